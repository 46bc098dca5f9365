/**
 * What a pool directory holds: classes of machines, machines, and jobs with their attempts.
 * Plain JSON data, as read from the journal; the {@linkcode Pool} changes it.
 *
 * @module
 */

import type { HostInput } from "../ssh/mod.ts";
import type { JobRef } from "../jobs/mod.ts";

/** A class of machines: which jobs they take, how they are set up, how a slot is placed. */
export interface PoolClass {
  /** The class name, as jobs name it (`dexp job add CLASS ...`). */
  readonly name: string;
  /** The slots of each machine: a count (`0` ... `n-1`) or a list of names (GPU ids). */
  readonly slots: number | readonly string[];
  /** Per-slot environment variables, values with placeholders: `{ CUDA_VISIBLE_DEVICES: "{slot}" }`. */
  readonly env: Readonly<Record<string, string>>;
  /** Per-slot command prefix, e.g. `numactl -N {slot}`, or null. */
  readonly prefix: string | null;
  /** Setup commands (with `{host}`, `{class}` and pool variables) run before a machine joins. */
  readonly setup: readonly string[];
  /** Time limit of the whole setup of one machine, in ms, or null for none. */
  readonly setupTimeout: number | null;
  /** Time between the starts of two machines' setups, in ms (0: all at once). */
  readonly stagger: number;
}

/** What {@linkcode Pool.defineClass} accepts: a name, the rest optional. */
export interface PoolClassInput {
  /** The class name: letters, digits, `_`, `.` and `-`. */
  name: string;
  /** A count of slots (default 1) or a list of named slots. */
  slots?: number | readonly string[];
  /** Per-slot environment variables (placeholders allowed). */
  env?: Readonly<Record<string, string>>;
  /** Per-slot command prefix (placeholders allowed). */
  prefix?: string | null;
  /** Setup commands. */
  setup?: readonly string[];
  /** Setup time limit (a Duration: ms or text like `"10m"`). */
  setupTimeout?: number | string | null;
  /** Stagger between setups (a Duration). */
  stagger?: number | string;
}

/** The states of a machine. */
export type MachineState =
  | "new"
  | "setting-up"
  | "ready"
  | "setup-failed"
  | "quarantined"
  | "removed";

/** The last setup of a machine. */
export interface MachineSetup {
  /** Fingerprint of the setup commands that ran (the class's commands, filled). */
  readonly fingerprint: string;
  /** Where its log is kept. */
  readonly log: string | null;
  /** When it started (ms since the epoch). */
  readonly start: number;
  /** When it ended, or null while it runs. */
  readonly end: number | null;
  /** Whether it succeeded; null while it runs. */
  readonly ok: boolean | null;
  /** Why it failed, if it did. */
  readonly reason: string | null;
}

/** A machine of the pool. */
export interface Machine {
  /** The machine name (the host's name: address, with `:port`; or the spec's `name`). */
  readonly name: string;
  /** The host, as given (a host string or a host spec). */
  readonly host: HostInput;
  /** Its class. */
  readonly class: string;
  /** Its state. */
  readonly state: MachineState;
  /** Why it is in this state (setup failed, quarantined, removed), or null. */
  readonly reason: string | null;
  /** Infrastructure failures (could not connect, lost job) since its last success. */
  readonly infraFailures: number;
  /** The last setup, or null if none ran. */
  readonly setup: MachineSetup | null;
  /** When it was added (ms since the epoch). */
  readonly added: number;
  /** When its state last changed. */
  readonly since: number;
}

/** The states of a job. */
export type JobState =
  | "waiting"
  | "held"
  | "running"
  | "copying"
  | "done"
  | "failed"
  | "canceled"
  | "lost";

/**
 * The states a job leaves only when told (retry).
 *
 * @example
 * ```ts
 * import { FINAL_JOB_STATES } from "@dexp/dexp";
 * import { ok } from "node:assert";
 *
 * ok(FINAL_JOB_STATES.includes("done") && !FINAL_JOB_STATES.includes("running"));
 * ```
 */
export const FINAL_JOB_STATES: readonly JobState[] = ["done", "failed", "canceled", "lost"];

/** How an attempt ended. */
export type AttemptOutcome = "done" | "failed" | "lost" | "canceled";

/** One attempt of a job: where it ran and how it ended. */
export interface Attempt {
  /** The machine. */
  readonly machine: string;
  /** The slot value. */
  readonly slot: string;
  /** The detached job that runs it, once known. */
  readonly ref: JobRef | null;
  /** When it was claimed (ms since the epoch). */
  readonly start: number;
  /** When the command ended (copying started), or null. */
  readonly ran: number | null;
  /** When the attempt ended, or null while it runs or copies. */
  readonly end: number | null;
  /** How it ended, or null. */
  readonly outcome: AttemptOutcome | null;
  /** Why (exit code, signal, could not connect, copy failed ...), or null. */
  readonly reason: string | null;
  /** The exit code of the command, if it exited. */
  readonly exitCode: number | null;
  /** Whether the failure was one of the infrastructure (connect, lost), not of the command. */
  readonly infrastructure: boolean;
  /** Where its results were copied, if any. */
  readonly results: string | null;
}

/** When a failed or lost attempt goes back to waiting. */
export interface RetryPolicy {
  /** Attempts at most (1: never retried). */
  readonly attempts: number;
  /** Whether infrastructure failures (lost, could not connect) use up attempts. */
  readonly countInfrastructure: boolean;
}

/** A job of the queue. */
export interface PoolJob {
  /** The job id: 1, 2, ... in submission order. */
  readonly id: number;
  /** Its class. */
  readonly class: string;
  /** The command, with `{host}`, `{slot}`, `{job}`, `{class}` and matrix variables. */
  readonly command: string;
  /** Matrix variables (and their values) of this job; empty for a plain job. */
  readonly vars: Readonly<Record<string, string>>;
  /** The results folder (`<results>/<job>/` receives its files), or null. */
  readonly results: string | null;
  /**
   * Declared output paths on the host (with the command's placeholders), copied back into
   * `<results>/<job>/` after the job ends, besides the paths of its `RESULTS:` lines.
   */
  readonly outputs: readonly string[];
  /** Time limit of one attempt in ms, or null. */
  readonly timeout: number | null;
  /** The retry policy. */
  readonly retry: RetryPolicy;
  /** Which repetition this is (0-based) of how many (`-x N`). */
  readonly rep: number;
  /** How many repetitions were asked. */
  readonly reps: number;
  /** The matrix it belongs to (the id of its first job), or null. */
  readonly matrix: number | null;
  /** Its state. */
  readonly state: JobState;
  /** Why it is in this state (failed, canceled, lost), or null. */
  readonly reason: string | null;
  /** When it was submitted (ms since the epoch). */
  readonly submitted: number;
  /** When its state last changed. */
  readonly since: number;
  /** Every attempt, oldest first. */
  readonly attempts: readonly Attempt[];
  /** Attempts before this index do not count against the retry policy (a manual retry). */
  readonly countFrom: number;
}
