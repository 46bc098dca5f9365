/**
 * What an attempt's error says, kept whole: a one-line summary for the display and, for
 * failed commands, every failed host with its failure kind, exit code or signal, reason and
 * stderr tail (for the logs, `result.json`, `run.json` and the notification).
 *
 * @module
 */

import { GroupError } from "../action/mod.ts";
import { type FailureKind, ProcessError, type ProcessResult } from "../process/mod.ts";

/** One failed command of an attempt, as recorded. */
export interface CommandFailure {
  /** The host (target label). */
  host: string;
  /** The command, as a shell line. */
  command: string;
  /** How it failed: `exit`, `signal`, `timeout`, `connect`, `spawn` or `output`. */
  kind: FailureKind;
  /** The exit code, if it exited. */
  exitCode: number | null;
  /** The signal that ended it, if any. */
  signal: string | null;
  /** Detail for connect, spawn and output failures. */
  reason: string | null;
  /** The last lines of its stderr (at most {@linkcode STDERR_TAIL_LINES}). */
  stderrTail: string[];
}

/** An attempt's error: the summary line and, for failed commands, each failure. */
export interface ErrorDetail {
  /** One line that names the failed hosts and why. */
  error: string;
  /** Every failed command, for command failures. */
  failures?: CommandFailure[];
}

/** Most stderr lines kept per failed command. */
export const STDERR_TAIL_LINES = 10;
const SUMMARY_HOSTS = 5;
const SUMMARY_DETAIL = 120;

function tail(stderr: string): string[] {
  const lines = stderr.trimEnd().split("\n");
  if (lines.length === 1 && lines[0] === "") return [];
  return lines.slice(-STDERR_TAIL_LINES);
}

function failureOf(r: ProcessResult): CommandFailure {
  return {
    host: r.target,
    command: r.command,
    kind: r.failure ?? "exit",
    exitCode: r.exitCode,
    signal: r.signal,
    reason: r.reason,
    stderrTail: tail(r.stderr),
  };
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * A failure in words, without the host: `exited with code 3: no such file`.
 *
 * @param f The failure.
 * @returns The text.
 */
export function failureText(f: CommandFailure): string {
  let what: string;
  switch (f.kind) {
    case "exit":
      what = `exited with code ${f.exitCode}`;
      break;
    case "signal":
      what = `was ended by ${f.signal}`;
      break;
    case "timeout":
      what = "timed out";
      break;
    case "connect":
      what = "could not connect";
      break;
    case "spawn":
      what = "could not start";
      break;
    case "output":
      what = "lost its output";
      break;
    default:
      what = f.kind;
  }
  const detail = f.reason ?? f.stderrTail.findLast((l) => l.trim() !== "");
  return detail ? `${what}: ${cut(detail.trim(), SUMMARY_DETAIL)}` : what;
}

function summarize(failures: CommandFailure[], total: number): string {
  const named = failures.slice(0, SUMMARY_HOSTS).map((f) => `${f.host} ${failureText(f)}`);
  if (failures.length > SUMMARY_HOSTS) named.push(`and ${failures.length - SUMMARY_HOSTS} more`);
  return `${failures.length} of ${total} commands failed: ${named.join("; ")}`;
}

/**
 * What an error of an experiment body says: a group or process error keeps every failed
 * host; any other error keeps its first line.
 *
 * @param err What the body threw.
 * @returns The summary and the failures.
 */
export function errorDetail(err: unknown): ErrorDetail {
  if (err instanceof GroupError) {
    const failed = err.result.results.filter((r) => r.failure && r.failure !== "killed");
    if (failed.length > 0) {
      const failures = failed.map(failureOf);
      return { error: summarize(failures, err.result.length), failures };
    }
  }
  if (err instanceof ProcessError) {
    const failures = [failureOf(err.result)];
    return { error: summarize(failures, 1), failures };
  }
  if (err instanceof Error) return { error: err.message.split("\n")[0] || err.name };
  return { error: String(err) };
}

/**
 * The log lines that detail failures (one per host, then its stderr tail, indented).
 *
 * @param failures The failures.
 * @returns The lines.
 */
export function failureLines(failures: readonly CommandFailure[]): string[] {
  const out: string[] = [];
  for (const f of failures) {
    const code = f.exitCode !== null ? `, exit code ${f.exitCode}` : "";
    const sig = f.signal !== null ? `, signal ${f.signal}` : "";
    const reason = f.reason !== null ? `, reason: ${f.reason}` : "";
    const command = f.command.replaceAll("\n", "\\n");
    out.push(`  ${f.host}: ${f.kind}${code}${sig}${reason}; command: ${command}`);
    if (f.stderrTail.length > 0) {
      out.push(`    stderr (last ${f.stderrTail.length} lines):`);
      for (const l of f.stderrTail) out.push(`      ${l}`);
    }
  }
  return out;
}
