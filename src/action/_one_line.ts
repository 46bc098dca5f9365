// One table cell on one line: line breaks shown as ⏎, other control characters escaped,
// cut with an ellipsis at a width. Shared by the report tables of the action and engine layers.

/**
 * A text on one line, at most `width` characters (code points) long.
 *
 * @param text The text, possibly with line breaks and control characters.
 * @param width The longest result (at least 1); longer texts end with `…`.
 * @returns The line.
 */
export function oneLine(text: string, width: number = Infinity): string {
  const flat = text
    .replace(/\r\n|\r|\n/g, "⏎")
    .replaceAll("\t", " ")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  const chars = [...flat];
  if (chars.length <= width) return flat;
  return chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}
