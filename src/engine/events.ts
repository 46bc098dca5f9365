/**
 * The events a run emits: the log, the progress display and the plain console output are
 * all made from them.
 *
 * @module
 */

import { formatDuration } from "../process/mod.ts";
import { type CommandFailure, failureLines } from "./failures.ts";

/** How a combination ended. */
export type ComboOutcome = "ok" | "failed";

/** One event of a run. `at` is ms since the epoch. */
export type RunEvent =
  | {
    type: "experiment-start";
    at: number;
    experiment: string;
    runDir: string;
    total: number;
    /** Combinations already done or failed before this process started (resume). */
    finished: number;
    workers: number;
  }
  | {
    type: "combo-start";
    at: number;
    experiment: string;
    worker: number;
    name: string;
    attempt: number;
  }
  | {
    type: "output";
    at: number;
    experiment: string;
    worker: number;
    name: string;
    line: string;
    /**
     * True for a sample of a command's output, for the display (the last line of a chunk):
     * not logged, the output itself is in the combination's log. Absent for `ctx.log` lines.
     */
    sampled?: boolean;
  }
  | {
    type: "attempt-failed";
    at: number;
    experiment: string;
    worker: number;
    name: string;
    attempt: number;
    error: string;
    /** Every failed command, when commands failed. */
    failures?: CommandFailure[];
    /** True if another attempt follows. */
    retry: boolean;
  }
  | {
    type: "combo-end";
    at: number;
    experiment: string;
    worker: number;
    name: string;
    outcome: ComboOutcome;
    attempts: number;
    duration: number;
    error?: string;
    /** Every failed command of the last attempt, when commands failed. */
    failures?: CommandFailure[];
  }
  | { type: "combo-interrupted"; at: number; experiment: string; worker: number; name: string }
  | {
    type: "experiment-end";
    at: number;
    experiment: string;
    succeeded: number;
    failed: number;
    remaining: number;
    interrupted: boolean;
  };

/** Receives the events of a run. */
export type RunListener = (event: RunEvent) => void;

/**
 * One log line for an event (without timestamp), or undefined for none.
 *
 * @param e The event.
 * @returns The line.
 */
export function describeEvent(e: RunEvent): string | undefined {
  switch (e.type) {
    case "experiment-start":
      return `experiment ${e.experiment}: ${e.total} combinations, ${e.finished} already finished, ${e.workers} worker(s), results in ${e.runDir}`;
    case "combo-start":
      return `[${e.name}] start (attempt ${e.attempt})`;
    case "output":
      return e.sampled ? undefined : `[${e.name}] ${e.line}`;
    case "attempt-failed":
      return `[${e.name}] attempt ${e.attempt} failed: ${e.error}${e.retry ? " (restarting)" : ""}`;
    case "combo-end":
      return e.outcome === "ok"
        ? `[${e.name}] ok in ${formatDuration(e.duration)} (attempt ${e.attempts})`
        : `[${e.name}] FAILED after ${e.attempts} attempt(s): ${e.error ?? "unknown error"}`;
    case "combo-interrupted":
      return `[${e.name}] interrupted: it will run again on resume`;
    case "experiment-end":
      return `experiment ${e.experiment}: ${e.succeeded} ok, ${e.failed} failed, ${e.remaining} remaining${
        e.interrupted ? " (interrupted)" : ""
      }`;
  }
}

/**
 * The lines that follow an event's line in log files: every failed command with its kind,
 * exit code or signal, reason and stderr tail. The display shows only the event's line.
 *
 * @param e The event.
 * @returns The lines (none for most events).
 */
export function describeDetails(e: RunEvent): string[] {
  if ((e.type === "attempt-failed" || e.type === "combo-end") && e.failures) {
    return failureLines(e.failures);
  }
  return [];
}
