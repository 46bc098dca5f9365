// The one plain-text table renderer of dexp: `Report.text()` and the engine's `toText` (the
// CLI's tables) both lay out their cells here.

/**
 * Cells laid out in columns: each column as wide as its widest cell (in code points), two
 * spaces between columns, no trailing spaces. Cells must already be on one line
 * (see `oneLine`).
 *
 * @param grid The rows, the header first; every row has the same number of cells.
 * @returns The lines joined with `\n`.
 */
export function textTable(grid: readonly (readonly string[])[]): string {
  const len = (s: string) => [...s].length;
  const widths = (grid[0] ?? []).map((_, i) => Math.max(...grid.map((row) => len(row[i]))));
  return grid.map((row) =>
    row.map((s, i) => s + " ".repeat(widths[i] - len(s))).join("  ").trimEnd()
  ).join("\n");
}
