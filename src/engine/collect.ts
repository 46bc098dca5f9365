/**
 * Results collection: rows from command output (regex or JSON lines, like distexprunner's
 * CSVGenerator), and the table of a run across all its combinations (`dexp report`).
 *
 * @module
 */

import { oneLine, textTable } from "../action/mod.ts";
import type { Combination, JsonValue } from "./_sweep.ts";
import { readJsonMaybe, writeFileAtomic } from "./atomic.ts";
import type { Row } from "./context.ts";
import type { CombinationRecord, RunJson } from "./runner.ts";
import { comboFolderName, RESULT_JSON, ROWS_JSONL, RUN_JSON } from "./rundir.ts";
import { runLiveness } from "./status.ts";
import { join } from "../process/mod.ts";

const NUM = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

function value(s: string): JsonValue {
  return NUM.test(s) ? Number(s) : s;
}

/**
 * Rows from the matches of a regular expression: one row per match, its named groups as
 * columns (numbers converted).
 *
 * @param text The output.
 * @param pattern A regular expression with named groups (the `g` flag is added).
 * @returns The rows, in order.
 * @throws {TypeError} If the pattern has no named group.
 * @example
 * ```ts
 * import { rowsFromRegex } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const rows = rowsFromRegex("lat=12 ms\nlat=15 ms\n", /lat=(?<lat>\d+)/);
 * deepStrictEqual(rows, [{ lat: 12 }, { lat: 15 }]);
 * ```
 */
export function rowsFromRegex(text: string, pattern: RegExp): Row[] {
  const re = new RegExp(
    pattern.source,
    pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g",
  );
  const rows: Row[] = [];
  let named = false;
  for (const m of text.matchAll(re)) {
    if (!m.groups) continue;
    named = true;
    const row: Row = {};
    for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) row[k] = value(v);
    rows.push(row);
  }
  if (!named && !/\(\?<[A-Za-z_]/.test(pattern.source)) {
    throw new TypeError(
      `Pattern ${pattern} has no named group: write (?<name>...) for each column`,
    );
  }
  return rows;
}

/**
 * Rows from JSON lines: every line that holds a JSON object is a row; other lines are
 * ignored.
 *
 * @param text The output.
 * @returns The rows, in order.
 * @example
 * ```ts
 * import { rowsFromJsonLines } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(rowsFromJsonLines('noise\n{"ops": 10}\n{"ops": 12}\n'), [{ ops: 10 }, { ops: 12 }]);
 * ```
 */
export function rowsFromJsonLines(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const v = JSON.parse(t);
      if (v && typeof v === "object" && !Array.isArray(v)) rows.push(v as Row);
    } catch { /* not JSON */ }
  }
  return rows;
}

/** One row of a run's table: parameters, the combination's rows' columns, outcome, duration. */
export type ReportRow = Record<string, JsonValue>;

/** The state of a combination in a run's table. */
export type ComboState = "pending" | "running" | "done" | "failed";

/** The table of a run (made by {@linkcode collectRun}). */
export interface RunTable {
  /** The column names: parameters first, then result columns, then `state`, `attempts`, `duration_ms`. */
  columns: string[];
  /** The rows, in sweep order (a combination with several result rows gives several rows). */
  rows: ReportRow[];
}

/**
 * Reads a run folder into a table: one row per result row of each combination (or one row
 * if it has none), with its parameters as columns plus `state`, `attempts` and
 * `duration_ms`. Every combination of the run is listed, also during the run: its state is
 * `done` or `failed` once finished, `running` while a live runner holds it, else `pending`.
 *
 * @param runDir `<results>/<experiment>/<run-id>`.
 * @returns The table.
 * @throws {TypeError} If the folder has no `run.json`.
 * @example
 * ```ts ignore
 * import { collectRun } from "@dexp/dexp";
 * const t = await collectRun("results/grid/20250101-120000-3fa2");
 * console.log(t.columns);
 * ```
 */
export async function collectRun(runDir: string): Promise<RunTable> {
  const run = await readJsonMaybe<RunJson>(join(runDir, RUN_JSON));
  if (!run) {
    throw new TypeError(
      `'${runDir}' is not a run folder: it has no readable ${RUN_JSON}: give <results>/<experiment>/<run-id>`,
    );
  }
  const names = run.combinations.length > 0 ? run.combinations : await scanCombos(runDir);
  const { claims } = await runLiveness(runDir, run);
  const running = new Set(claims.map((c) => comboFolderName(c.combination)));
  const paramCols: string[] = [];
  const resultCols: string[] = [];
  const add = (cols: string[], k: string) => {
    if (!cols.includes(k)) cols.push(k);
  };
  const rows: ReportRow[] = [];
  for (const c of names) {
    const rec = await readJsonMaybe<CombinationRecord>(join(runDir, c.name, RESULT_JSON));
    const params: Combination = rec?.params ?? c.params;
    for (const k of Object.keys(params)) add(paramCols, k);
    const state: ComboState = rec?.outcome === "ok"
      ? "done"
      : rec?.outcome === "failed"
      ? "failed"
      : running.has(c.name)
      ? "running"
      : "pending";
    const tail: ReportRow = {
      state,
      attempts: rec?.attempts ?? 0,
      duration_ms: rec?.duration ?? null,
    };
    let results: Row[] = [];
    try {
      results = rowsFromJsonLines(await Deno.readTextFile(join(runDir, c.name, ROWS_JSONL)));
    } catch { /* no rows */ }
    if (results.length === 0) rows.push({ ...params, ...tail });
    for (const r of results) {
      for (const k of Object.keys(r)) if (!Object.hasOwn(params, k)) add(resultCols, k);
      rows.push({ ...params, ...r, ...tail });
    }
  }
  return { columns: [...paramCols, ...resultCols, "state", "attempts", "duration_ms"], rows };
}

async function scanCombos(runDir: string): Promise<{ name: string; params: Combination }[]> {
  const out: { name: string; params: Combination }[] = [];
  for await (const e of Deno.readDir(runDir)) {
    if (!e.isDirectory || e.name.startsWith(".")) continue;
    const rec = await readJsonMaybe<CombinationRecord>(join(runDir, e.name, RESULT_JSON));
    out.push({ name: e.name, params: rec?.params ?? {} });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : 1);
}

function csvCell(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * A table as CSV (RFC 4180, header line first).
 *
 * @param table The table.
 * @returns The CSV text.
 * @example
 * ```ts
 * import { toCsv } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(toCsv({ columns: ["a", "b"], rows: [{ a: 1, b: "x,y" }] }), 'a,b\n1,"x,y"\n');
 * ```
 */
export function toCsv(table: RunTable): string {
  const lines = [table.columns.map((c) => csvCell(c)).join(",")];
  for (const r of table.rows) lines.push(table.columns.map((c) => csvCell(r[c])).join(","));
  return lines.join("\n") + "\n";
}

/**
 * A table as aligned plain text, one line per row: line breaks in a cell show as `⏎`, other
 * control characters are escaped, and long cells are cut with `…`.
 *
 * @param table The table.
 * @param maxWidth Cells are cut to this many characters (default 30).
 * @returns The text.
 * @example
 * ```ts
 * import { toText } from "@dexp/dexp";
 * import { match } from "node:assert";
 * match(toText({ columns: ["a"], rows: [{ a: 1 }] }), /^a\n.*1/s);
 * ```
 */
export function toText(table: RunTable, maxWidth = 30): string {
  const cell = (v: JsonValue | undefined) => {
    const s = v === undefined || v === null
      ? ""
      : typeof v === "object"
      ? JSON.stringify(v)
      : String(v);
    return oneLine(s, maxWidth);
  };
  const grid = [
    table.columns.map((c) => oneLine(c)),
    ...table.rows.map((r) => table.columns.map((c) => cell(r[c]))),
  ];
  return textTable(grid);
}

/**
 * Writes `results.csv` and `results.jsonl` of a run folder (atomically) and returns the table.
 *
 * @param runDir The run folder.
 * @returns The table.
 * @throws {TypeError} If the folder has no `run.json`.
 * @example
 * ```ts ignore
 * import { writeReport } from "@dexp/dexp";
 * await writeReport("results/grid/20250101-120000-3fa2");
 * ```
 */
export async function writeReport(runDir: string): Promise<RunTable> {
  const table = await collectRun(runDir);
  await writeFileAtomic(join(runDir, "results.csv"), toCsv(table));
  await writeFileAtomic(
    join(runDir, "results.jsonl"),
    table.rows.map((r) => JSON.stringify(r)).join("\n") + (table.rows.length ? "\n" : ""),
  );
  return table;
}
