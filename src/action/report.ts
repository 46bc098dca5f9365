/**
 * Reports: a plain-text summary table and JSON for any result (a command, a group, a
 * composite, or a list of them), like execo's Report.
 *
 * @module
 */

import { formatDuration, ProcessResult } from "../process/mod.ts";
import { oneLine } from "./_one_line.ts";
import { textTable } from "./_table.ts";
import { CompositeResult, FunctionResult, type StepResult } from "./compose.ts";
import { GroupResult } from "./group_result.ts";

/** One line of a report. */
export interface ReportEntry {
  /** `local`, a host name, or `function` for a function step. */
  readonly target: string;
  /** The command or function name. */
  readonly command: string;
  /** `ok`, or why not: `exit`, `signal`, `timeout`, `killed`, `connect`, `spawn`, `output`, `error`, `skipped`. */
  readonly status: string;
  /** The exit code, if any. */
  readonly exitCode: number | null;
  /** Duration in ms. */
  readonly duration: number;
  /** Start time. */
  readonly start: Date;
  /** End time. */
  readonly end: Date;
}

/** Counts and durations of a report. */
export interface ReportSummary {
  /** Number of entries. */
  total: number;
  /** Entries that succeeded. */
  succeeded: number;
  /** Entries that failed (any reason but timeout, killed, skipped). */
  failed: number;
  /** Entries stopped by their timeout. */
  timedOut: number;
  /** Entries stopped by `kill()`. */
  killed: number;
  /** Entries that could not connect (ssh). */
  connectFailed: number;
  /** Entries never run. */
  skipped: number;
  /** Shortest duration in ms (0 if none). */
  minDuration: number;
  /** Mean duration in ms (0 if none). */
  meanDuration: number;
  /** Longest duration in ms (0 if none). */
  maxDuration: number;
  /** From the first start to the last end, in ms. */
  wallTime: number;
}

/** Anything a report can be made of. */
export type Reportable = StepResult | readonly Reportable[];

function flatten(x: Reportable, out: ReportEntry[]): void {
  if (Array.isArray(x)) {
    for (const y of x) flatten(y, out);
  } else if (x instanceof GroupResult) {
    for (const r of x.results) flatten(r, out);
  } else if (x instanceof CompositeResult) {
    for (const s of x.steps) flatten(s, out);
  } else if (x instanceof ProcessResult) {
    out.push({
      target: x.target,
      command: x.command,
      status: x.failure ?? "ok",
      exitCode: x.exitCode,
      duration: x.duration,
      start: x.start,
      end: x.end,
    });
  } else if (x instanceof FunctionResult) {
    out.push({
      target: x.skipped ? "-" : "function",
      command: x.name,
      status: x.skipped ? "skipped" : x.ok ? "ok" : "error",
      exitCode: null,
      duration: x.duration,
      start: x.start,
      end: x.end,
    });
  } else {
    throw new TypeError(
      "report() takes results: a ProcessResult, GroupResult, CompositeResult or a list of them (await the command first)",
    );
  }
}

/**
 * A summary of results: counts, durations, a table.
 *
 * @example
 * ```ts
 * import { local, Report, report } from "@dexp/dexp";
 * import { match, ok, strictEqual } from "node:assert";
 *
 * const r = report(await local(2).run((_target, i) => `exit ${i}`).quiet().noThrow());
 * ok(r instanceof Report);
 * strictEqual(r.summary.total, 2);
 * strictEqual(r.summary.failed, 1);
 * match(r.text(), /exit/);
 * ```
 */
export class Report {
  /** The title printed above the table. */
  readonly title: string;
  /** One entry per process or function step. */
  readonly entries: readonly ReportEntry[];

  /**
   * Makes a report; prefer {@linkcode report}.
   *
   * @param results What to report on.
   * @param title A title.
   */
  constructor(results: Reportable, title = "dexp report") {
    const entries: ReportEntry[] = [];
    flatten(results, entries);
    this.entries = entries;
    this.title = title;
  }

  /** Counts and durations. */
  get summary(): ReportSummary {
    const e = this.entries;
    const count = (s: string) => e.filter((x) => x.status === s).length;
    const durations = e.filter((x) => x.status !== "skipped").map((x) => x.duration);
    const ok = count("ok");
    const timedOut = count("timeout");
    const killed = count("killed");
    const skipped = count("skipped");
    const starts = e.map((x) => x.start.getTime());
    const ends = e.map((x) => x.end.getTime());
    return {
      total: e.length,
      succeeded: ok,
      failed: e.length - ok - timedOut - killed - skipped,
      timedOut,
      killed,
      connectFailed: count("connect"),
      skipped,
      minDuration: durations.length ? Math.min(...durations) : 0,
      meanDuration: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : 0,
      maxDuration: durations.length ? Math.max(...durations) : 0,
      wallTime: e.length ? Math.max(...ends) - Math.min(...starts) : 0,
    };
  }

  /**
   * The report as a plain-text table.
   *
   * @param options `maxRows` limits the table (default 50; failures are listed first).
   * @returns The text.
   */
  text(options: { maxRows?: number } = {}): string {
    const s = this.summary;
    const maxRows = options.maxRows ?? 50;
    const lines = [
      `${this.title}: ${s.total} total, ${s.succeeded} ok, ${s.failed} failed (${s.connectFailed} could not connect), ${s.timedOut} timed out, ${s.killed} killed, ${s.skipped} skipped`,
      `durations: min ${formatDuration(s.minDuration)}, mean ${
        formatDuration(s.meanDuration)
      }, max ${formatDuration(s.maxDuration)}; wall ${formatDuration(s.wallTime)}`,
    ];
    const rows = [...this.entries].sort((a, b) =>
      Number(a.status === "ok") - Number(b.status === "ok")
    );
    const shown = rows.slice(0, maxRows);
    const cells = [
      ["target", "status", "code", "duration", "command"],
      // Every row on one line: a multi-line command shows its line breaks as ⏎.
      ...shown.map((r) => [
        oneLine(r.target, 60),
        r.status,
        r.exitCode === null ? "-" : String(r.exitCode),
        formatDuration(r.duration),
        oneLine(r.command, 60),
      ]),
    ];
    lines.push(textTable(cells));
    if (rows.length > shown.length) lines.push(`... ${rows.length - shown.length} more rows`);
    return lines.join("\n");
  }

  /**
   * The report as plain JSON: title, summary, entries.
   *
   * @returns A JSON-ready object.
   */
  toJSON(): { title: string; summary: ReportSummary; entries: unknown[] } {
    return {
      title: this.title,
      summary: this.summary,
      entries: this.entries.map((e) => ({
        ...e,
        start: e.start.toISOString(),
        end: e.end.toISOString(),
      })),
    };
  }
}

/**
 * Makes a report of results: a command's, a group's, a composite's, or a list of them.
 *
 * @param results What to report on.
 * @param title A title (default "dexp report").
 * @returns The report: `text()` for a table, `toJSON()` for JSON.
 * @throws {TypeError} If given something that is not a result.
 *
 * @example
 * ```ts
 * import { local, report } from "@dexp/dexp";
 * import { match, strictEqual } from "node:assert";
 * const r = await local(2).run("true").quiet();
 * strictEqual(report(r).summary.total, 2);
 * match(report(r).text(), /true/); // one row per process, then the summary
 * ```
 */
export function report(results: Reportable, title?: string): Report {
  return new Report(results, title);
}
