/**
 * What the dispatcher needs from a pool's store: a view of the machines and of the queue (in
 * queue order), and the transitions it records. Every transition is written to disk before the
 * dispatcher goes on, so a dispatcher killed at any moment finds, when restarted, each job
 * where it left it: a reference to every detached job it started, recorded before it waits.
 *
 * @module
 */

import type { HostInput } from "../ssh/mod.ts";
import type { JobRef } from "../jobs/mod.ts";

/** A machine as the dispatcher sees it. */
export interface DispatchMachine {
  /** Its name in the pool. */
  readonly name: string;
  /** How to reach it. */
  readonly host: HostInput;
  /** Its class. */
  readonly class: string;
  /** Its slot values. */
  readonly slots: readonly string[];
  /** Per-slot environment variables (values with `{slot}`). */
  readonly slotEnv: Readonly<Record<string, string>>;
  /** Per-slot command prefix (with `{slot}`), or null. */
  readonly prefix: string | null;
  /** Setup commands (with `{host}`, `{class}` and pool variables). */
  readonly setup: readonly string[];
  /**
   * `new` (setup not run yet, or its commands changed), `setup` (its setup job runs),
   * `ready`, `failed` (setup failed), `quarantined`, `removed`.
   */
  readonly state: "new" | "setup" | "ready" | "failed" | "quarantined" | "removed";
  /** The setup job while `setup`. */
  readonly setupRef: JobRef | null;
  /** The fingerprint of the setup that is running or succeeded. */
  readonly setupFingerprint: string | null;
  /** Infrastructure failures in a row (could not connect, lost job). */
  readonly faults: number;
  /** Pool variables for the setup commands. */
  readonly vars?: Readonly<Record<string, string>>;
  /** Time limit of its setup in ms (default: the dispatcher's). */
  readonly setupTimeout?: number | null;
}

/** One attempt of a job. */
export interface DispatchAttempt {
  /** The machine. */
  readonly machine: string;
  /** The slot value. */
  readonly slot: string;
  /** The detached job's name (to find it if the dispatcher died before recording `ref`). */
  readonly name: string;
  /** The detached job, once started. */
  readonly ref: JobRef | null;
  /** Start (ms since the epoch). */
  readonly start: number;
  /** End, when ended. */
  readonly end: number | null;
  /** How it ended. */
  readonly outcome: AttemptOutcome | null;
}

/** How an attempt ended. */
export interface AttemptOutcome {
  /** `ok`, `exit` (non-zero), `signal`, `timeout`, `lost`, `infra` (could not start), `canceled`. */
  readonly kind: "ok" | "exit" | "signal" | "timeout" | "lost" | "infra" | "canceled";
  /** Exit code, if it exited. */
  readonly exitCode: number | null;
  /** For people. */
  readonly reason: string | null;
}

/** A job as the dispatcher sees it. */
export interface DispatchJob {
  /** Its id. */
  readonly id: string;
  /** Its class. */
  readonly class: string;
  /** The command (with `{host}`, `{slot}`, `{job}`, matrix variables). */
  readonly command: string;
  /** Matrix and pool variables. */
  readonly vars: Readonly<Record<string, string>>;
  /** Local results folder (the copy goes to `<results>/<id>/`), or null. */
  readonly results: string | null;
  /** Declared output paths on the host (besides `RESULTS:` lines). */
  readonly outputs: readonly string[];
  /** Time limit of one attempt in ms, or null. */
  readonly timeout: number | null;
  /** Most attempts. */
  readonly attempts: number;
  /** Whether infrastructure failures (could not start, lost) use up an attempt. */
  readonly infraCounts: boolean;
  /** `waiting`, `held`, `running`, `copying`, `done`, `failed`, `canceled`, `lost`. */
  readonly state:
    | "waiting"
    | "held"
    | "running"
    | "copying"
    | "done"
    | "failed"
    | "canceled"
    | "lost";
  /** Every attempt, oldest first. */
  readonly tries: readonly DispatchAttempt[];
  /** Results paths named by the last attempt (`RESULTS:` lines and outputs), while copying. */
  readonly copyPaths: readonly string[];
  /** Failed copies so far. */
  readonly copyFailures: number;
}

/** The pool as the dispatcher sees it. */
export interface DispatchView {
  /** The machines. */
  readonly machines: readonly DispatchMachine[];
  /** The jobs, in queue order. */
  readonly jobs: readonly DispatchJob[];
  /** A tag of this pool (letters and digits), part of its detached jobs' names. */
  readonly tag?: string;
}

/** The store behind a dispatcher. */
export interface DispatchStore {
  /** The pool now (re-read from disk). */
  read(): Promise<DispatchView>;
  /** Whether the store changed since the last look (cheap); without it, read every poll. */
  changed?(): Promise<boolean>;
  /** A machine's setup job started. */
  setupStarted(machine: string, ref: JobRef, fingerprint: string): Promise<void>;
  /** A machine's setup ended: `ready`, or `failed` with the reason (and its log). */
  setupEnded(
    machine: string,
    ok: boolean,
    fingerprint: string,
    reason: string | null,
    log: string | null,
  ): Promise<void>;
  /** An infrastructure failure on a machine; `quarantine` puts it out with the reason. */
  machineFault(machine: string, reason: string, quarantine: boolean): Promise<void>;
  /** A machine worked again: its count of faults in a row goes back to 0. */
  machineOk(machine: string): Promise<void>;
  /**
   * A job is about to start (state `running`, a new attempt without `ref`). Rejects (false)
   * if the job is no longer `waiting` (canceled or held meanwhile).
   */
  attemptStarting(job: string, machine: string, slot: string, name: string): Promise<boolean>;
  /** The detached job of the last attempt started. */
  attemptStarted(job: string, ref: JobRef): Promise<void>;
  /**
   * The last attempt ended; the job goes to `next`. Ignored (false) if that attempt had ended
   * already: every attempt ends once.
   */
  attemptEnded(
    job: string,
    outcome: AttemptOutcome,
    next: "waiting" | "copying" | "done" | "failed" | "canceled" | "lost",
    copyPaths: readonly string[],
  ): Promise<boolean>;
  /** A copy-back ended: `done`, or a failure counted (the job stays `copying`). */
  copyEnded(job: string, ok: boolean, reason: string | null): Promise<void>;
}
