// The in-memory state of a pool directory, and the operations its journal records.
//
// Every change is one operation, decided by the writer under the lock (the resulting state is
// in the record): applying a record never decides anything, so every reader replays the same
// history into the same state. Operations of one transaction are one journal line.

import type {
  Attempt,
  AttemptOutcome,
  JobState,
  Machine,
  MachineSetup,
  MachineState,
  PoolClass,
  PoolJob,
  RetryPolicy,
} from "./types.ts";
import type { JobRef } from "../jobs/mod.ts";

/** One recorded operation. */
export type Op =
  | { o: "class"; c: PoolClass }
  | { o: "vars"; vars: Record<string, string> }
  | { o: "madd"; m: Machine }
  | {
    o: "mstate";
    name: string;
    state: MachineState;
    reason: string | null;
    at: number;
    setup?: MachineSetup;
    infra?: number;
  }
  | { o: "add"; spec: JobSpec; first: number; vars: Record<string, string>[] }
  | {
    o: "jstate";
    id: number;
    state: JobState;
    reason: string | null;
    at: number;
    countFrom?: number;
  }
  | { o: "claim"; id: number; a: Attempt; at: number }
  | { o: "aref"; id: number; n: number; ref: JobRef }
  | { o: "copying"; id: number; n: number; at: number; exitCode: number | null }
  | {
    o: "end";
    id: number;
    n: number;
    at: number;
    outcome: AttemptOutcome;
    reason: string | null;
    exitCode: number | null;
    infrastructure: boolean;
    results: string | null;
    state: JobState;
    jobReason: string | null;
  };

/** What the jobs of one submission share (a compact record: one per submission). */
export interface JobSpec {
  class: string;
  command: string;
  results: string | null;
  /** Declared outputs; absent when there are none (and in journals written before them). */
  outputs?: string[];
  timeout: number | null;
  retry: RetryPolicy;
  reps: number;
  matrix: number | null;
  submitted: number;
}

/**
 * The jobs of one submission: ids from `first`, each combination `reps` times in a row.
 *
 * @param spec What they share.
 * @param first The first id.
 * @param vars The combinations (`[{}]` for a plain job).
 * @returns The jobs, waiting.
 */
export function jobsOf(spec: JobSpec, first: number, vars: Record<string, string>[]): PoolJob[] {
  const out: PoolJob[] = [];
  let id = first;
  for (const v of vars) {
    for (let rep = 0; rep < spec.reps; rep++) {
      out.push({
        id: id++,
        class: spec.class,
        command: spec.command,
        vars: v,
        results: spec.results,
        outputs: spec.outputs ?? [],
        timeout: spec.timeout,
        retry: spec.retry,
        rep,
        reps: spec.reps,
        matrix: spec.matrix,
        state: "waiting",
        reason: null,
        submitted: spec.submitted,
        since: spec.submitted,
        attempts: [],
        countFrom: 0,
      });
    }
  }
  return out;
}

/** One transaction: a journal line. */
export interface Tx {
  /** Sequence number (1, 2, ...), over the whole history of the directory. */
  s: number;
  /** When it was written. */
  at: number;
  /** Its operations. */
  ops: Op[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MJob = Mutable<PoolJob> & { attempts: Attempt[] };

/** Sorted list of ids (ascending) with binary insert and delete. */
class IdQueue {
  ids: number[] = [];
  add(id: number): void {
    const a = this.ids;
    if (a.length === 0 || a[a.length - 1] < id) {
      a.push(id);
      return;
    }
    const i = this.#find(id);
    if (a[i] !== id) a.splice(i, 0, id);
  }
  delete(id: number): void {
    const a = this.ids;
    if (a.length > 0 && a[0] === id) {
      a.shift();
      return;
    }
    const i = this.#find(id);
    if (a[i] === id) a.splice(i, 1);
  }
  #find(id: number): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The state of a pool: classes, machines, jobs, and the waiting queue of each class. */
export class PoolState {
  seq = 0;
  nextId = 1;
  created = 0;
  vars: Record<string, string> = {};
  classes = new Map<string, PoolClass>();
  machines = new Map<string, Machine>();
  jobs = new Map<number, MJob>();
  waiting = new Map<string, IdQueue>();
  badLines = 0;

  clear(): void {
    this.seq = 0;
    this.nextId = 1;
    this.vars = {};
    this.classes.clear();
    this.machines.clear();
    this.jobs.clear();
    this.waiting.clear();
    this.badLines = 0;
  }

  #queue(cls: string): IdQueue {
    let q = this.waiting.get(cls);
    if (!q) this.waiting.set(cls, q = new IdQueue());
    return q;
  }

  #setJobState(j: MJob, state: JobState, reason: string | null, at: number): void {
    if (j.state === "waiting" && state !== "waiting") this.#queue(j.class).delete(j.id);
    if (state === "waiting" && j.state !== "waiting") this.#queue(j.class).add(j.id);
    j.state = state;
    j.reason = reason;
    j.since = at;
  }

  /** Adds a job as loaded (from a snapshot or an add record). */
  loadJob(j: PoolJob): void {
    const m = { ...j, attempts: [...j.attempts] } as MJob;
    this.jobs.set(m.id, m);
    if (m.state === "waiting") this.#queue(m.class).add(m.id);
    if (m.id >= this.nextId) this.nextId = m.id + 1;
  }

  applyTx(tx: Tx): void {
    for (const op of tx.ops) this.apply(op);
    if (tx.s > this.seq) this.seq = tx.s;
  }

  apply(op: Op): void {
    switch (op.o) {
      case "class":
        this.classes.set(op.c.name, op.c);
        break;
      case "vars":
        this.vars = { ...op.vars };
        break;
      case "madd":
        this.machines.set(op.m.name, op.m);
        break;
      case "mstate": {
        const m = this.machines.get(op.name);
        if (!m) break;
        this.machines.set(op.name, {
          ...m,
          state: op.state,
          reason: op.reason,
          since: op.at,
          setup: op.setup ?? m.setup,
          infraFailures: op.infra ?? m.infraFailures,
        });
        break;
      }
      case "add":
        for (const j of jobsOf(op.spec, op.first, op.vars)) this.loadJob(j);
        break;
      case "jstate": {
        const j = this.jobs.get(op.id);
        if (!j) break;
        this.#setJobState(j, op.state, op.reason, op.at);
        if (op.countFrom !== undefined) j.countFrom = op.countFrom;
        break;
      }
      case "claim": {
        const j = this.jobs.get(op.id);
        if (!j) break;
        j.attempts.push(op.a);
        this.#setJobState(j, "running", null, op.at);
        break;
      }
      case "aref": {
        const j = this.jobs.get(op.id);
        const a = j?.attempts[op.n];
        if (a) j!.attempts[op.n] = { ...a, ref: op.ref };
        break;
      }
      case "copying": {
        const j = this.jobs.get(op.id);
        const a = j?.attempts[op.n];
        if (!a) break;
        j!.attempts[op.n] = { ...a, ran: op.at, exitCode: op.exitCode };
        if (j!.state === "running") this.#setJobState(j!, "copying", null, op.at);
        break;
      }
      case "end": {
        const j = this.jobs.get(op.id);
        const a = j?.attempts[op.n];
        if (!a) break;
        j!.attempts[op.n] = {
          ...a,
          ran: a.ran ?? op.at,
          end: op.at,
          outcome: op.outcome,
          reason: op.reason,
          exitCode: op.exitCode ?? a.exitCode,
          infrastructure: op.infrastructure,
          results: op.results,
        };
        this.#setJobState(j!, op.state, op.jobReason, op.at);
        break;
      }
    }
  }
}
