/**
 * State tracking: one batched query per poll for all of a run's jobs (squeue for the jobs
 * the controller still knows; sacct or the job completion log for those it forgot), with
 * backoff between polls.
 *
 * @module
 */

import { runClient, slurmMessage } from "./_run.ts";
import { SlurmError } from "./errors.ts";
import { type SlurmJobState, slurmOutcome } from "./state.ts";

/** Options of {@linkcode querySlurmJobs} and {@linkcode SlurmTracker}. */
export interface SlurmQueryOptions {
  /** Environment of the Slurm commands (e.g. `{ SLURM_CONF }`). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The job completion log (`JobCompType=jobcomp/filetxt`, its `JobCompLoc`), read for jobs
   * that squeue no longer lists when sacct has no accounting. Default: none.
   */
  readonly jobcompFile?: string;
}

/**
 * Parses `squeue -h -r -t all -o "%i|%T|%r|%N"` output.
 *
 * @param text squeue's output.
 * @returns The states, by job id.
 */
export function parseSqueue(text: string): Map<string, SlurmJobState> {
  const out = new Map<string, SlurmJobState>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [id, state, reason, nodes] = line.split("|");
    out.set(id, { ...slurmOutcome(state, reason ?? null, id), nodes: nodes || null });
  }
  return out;
}

/**
 * Parses the job completion log of `jobcomp/filetxt` (one `JobId=... JobState=...` line per
 * finished job; the last line of a job wins, as a requeued job ends more than once).
 *
 * @param text The log.
 * @returns The final states, by job id.
 */
export function parseJobcomp(text: string): Map<string, SlurmJobState> {
  const out = new Map<string, SlurmJobState>();
  for (const line of text.split("\n")) {
    const f = new Map<string, string>();
    for (const m of line.matchAll(/(\w+)=(\S*)/g)) if (!f.has(m[1])) f.set(m[1], m[2]);
    // An array task is named as squeue names it: ARRAYJOB_TASK.
    const array = f.get("ArrayJobId");
    const task = f.get("ArrayTaskId");
    const id = array && task && /^\d+$/.test(array) && /^\d+$/.test(task) && array !== "0"
      ? `${array}_${task}`
      : f.get("JobId");
    const state = f.get("JobState");
    if (id === undefined || state === undefined) continue;
    let s: SlurmJobState;
    try {
      s = slurmOutcome(state, null, id);
    } catch {
      continue;
    }
    const nodes = f.get("NodeList");
    out.set(id, { ...s, nodes: nodes && nodes !== "(null)" ? nodes : null });
  }
  return out;
}

/**
 * Parses `sacct -n -P -X -o JobID,State,Reason,NodeList` output.
 *
 * @param text sacct's output.
 * @returns The states, by job id.
 */
export function parseSacct(text: string): Map<string, SlurmJobState> {
  const out = new Map<string, SlurmJobState>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [id, state, reason, nodes] = line.split("|");
    try {
      const s = slurmOutcome(state, reason ?? null, id);
      out.set(id, { ...s, nodes: nodes && nodes !== "None assigned" ? nodes : null });
    } catch {
      // A state this version does not know: leave the job unknown.
    }
  }
  return out;
}

/**
 * The current states of some jobs, in one query to squeue (plus one to sacct or the job
 * completion log for the jobs squeue no longer lists). Jobs that nothing knows are missing
 * from the map. An array's job id stands for all its tasks: the map then has one entry per
 * task (`12_0`, `12_1`, ...), as squeue names them.
 *
 * @param jobIds Job ids (`12`), array tasks (`12_3`) or arrays (`12`, for every task).
 * @param options Environment and job completion log.
 * @returns The states, by job id.
 * @throws {SlurmError} `missing` without squeue, `query` when squeue fails.
 *
 * @example
 * ```ts ignore
 * // Needs a Slurm cluster, so it is not run by `deno test --doc`.
 * import { querySlurmJobs, submitArray } from "@dexp/dexp";
 * import { ok } from "node:assert";
 *
 * const jobId = await submitArray(["true"], { tasks: 2 });
 * const states = await querySlurmJobs([jobId]);
 * ok([...states.values()].every((s) => typeof s.state === "string"));
 * ```
 */
export async function querySlurmJobs(
  jobIds: readonly string[],
  options: SlurmQueryOptions = {},
): Promise<Map<string, SlurmJobState>> {
  const env = options.env ?? {};
  const out = new Map<string, SlurmJobState>();
  if (jobIds.length === 0) return out;
  const r = await runClient(
    "squeue",
    ["-h", "-r", "-t", "all", "-j", jobIds.join(","), "-o", "%i|%T|%r|%N"],
    env,
  );
  // A single id the controller forgot is an error; several ids are filtered silently.
  if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) {
    throw new SlurmError("query", `squeue failed: ${slurmMessage(r.stderr)}`, {
      stderr: r.stderr,
    });
  }
  // An array's id stands for all its tasks (`12` gives `12_0`, `12_1`, ...).
  const wanted = (id: string) => jobIds.includes(id) || jobIds.includes(id.split("_")[0]);
  if (r.code === 0) {
    for (const [id, s] of parseSqueue(r.stdout)) if (wanted(id)) out.set(id, s);
  }
  const known = (id: string) => out.has(id) || [...out.keys()].some((k) => k.startsWith(`${id}_`));
  const missing = jobIds.filter((id) => !known(id));
  if (missing.length === 0) return out;
  let found = new Map<string, SlurmJobState>();
  try {
    const a = await runClient(
      "sacct",
      ["-n", "-P", "-X", "-j", missing.join(","), "-o", "JobID,State,Reason,NodeList"],
      env,
    );
    if (a.code === 0) found = parseSacct(a.stdout);
  } catch {
    // No sacct here: the completion log, if any.
  }
  if (options.jobcompFile !== undefined) {
    let text = "";
    try {
      text = await Deno.readTextFile(options.jobcompFile);
    } catch {
      // Not written yet.
    }
    for (const [id, s] of parseJobcomp(text)) if (!found.has(id)) found.set(id, s);
  }
  for (const [id, s] of found) {
    if (missing.includes(id) || missing.includes(id.split("_")[0])) out.set(id, s);
  }
  return out;
}

/** Options of {@linkcode SlurmTracker}. */
export interface SlurmTrackerOptions extends SlurmQueryOptions {
  /** First time between polls, in ms (default 500). */
  readonly minInterval?: number;
  /** Longest time between polls, in ms (default 30000). */
  readonly maxInterval?: number;
}

/**
 * Follows a set of jobs: each poll is one batched query for all of them that are not final
 * yet; the time between polls doubles while nothing changes and starts again from the
 * shortest when something does.
 *
 * @example
 * ```ts ignore
 * // Needs a Slurm cluster, so it is not run by `deno test --doc`.
 * import { SlurmTracker, submitArray } from "@dexp/dexp";
 * import { ok } from "node:assert";
 *
 * const jobId = await submitArray(["true"], { tasks: 4 });
 * const tracker = new SlurmTracker([jobId]);
 * const states = await tracker.poll(); // one squeue (and sacct) call for every job
 * ok(states.length > 0);
 * ```
 */
export class SlurmTracker {
  readonly #ids: string[];
  readonly #options: SlurmTrackerOptions;
  readonly #states = new Map<string, SlurmJobState>();
  #interval: number;

  /**
   * Makes a tracker; nothing is queried until {@linkcode SlurmTracker.poll}.
   *
   * @param jobIds The jobs.
   * @param options Environment, completion log, poll intervals.
   */
  constructor(jobIds: readonly string[], options: SlurmTrackerOptions = {}) {
    this.#ids = [...jobIds];
    this.#options = options;
    this.#interval = options.minInterval ?? 500;
  }

  /** The last known state of every job that has one. */
  get states(): ReadonlyMap<string, SlurmJobState> {
    return this.#states;
  }

  /** Whether every job (every task of an array) has a final state. */
  get done(): boolean {
    return this.#ids.every((id) => this.#final(id));
  }

  #final(id: string): boolean {
    const s = this.#states.get(id);
    if (s) return s.final;
    const tasks = [...this.#states.values()].filter((t) => t.jobId.startsWith(`${id}_`));
    return tasks.length > 0 && tasks.every((t) => t.final);
  }

  /** How long to wait before the next poll, in ms. */
  get interval(): number {
    return this.#interval;
  }

  /**
   * Queries the jobs that are not final yet (one batch) and updates the states.
   *
   * @returns The jobs whose state or reason changed.
   * @throws {SlurmError} When squeue fails.
   */
  async poll(): Promise<SlurmJobState[]> {
    const open = this.#ids.filter((id) => !this.#final(id));
    // Tasks of an array seen before and not final yet are asked for by name, so that a task
    // the controller forgot is looked up in the accounting or the completion log.
    for (const t of this.#states.values()) {
      if (!t.final && !open.includes(t.jobId) && open.includes(t.jobId.split("_")[0])) {
        open.push(t.jobId);
      }
    }
    const now = await querySlurmJobs(open, this.#options);
    const changed: SlurmJobState[] = [];
    for (const [id, s] of now) {
      const old = this.#states.get(id);
      if (!old || old.state !== s.state || old.reason !== s.reason) changed.push(s);
      this.#states.set(id, s);
    }
    const min = this.#options.minInterval ?? 500;
    const max = this.#options.maxInterval ?? 30_000;
    this.#interval = changed.length > 0 ? min : Math.min(max, this.#interval * 2);
    return changed;
  }

  /**
   * Polls until every job is final, with backoff.
   *
   * @param onChange Called with each job whose state changed.
   * @param signal Stops waiting (rejects with the signal's reason).
   * @returns The final states.
   */
  async wait(
    onChange?: (s: SlurmJobState) => void,
    signal?: AbortSignal,
  ): Promise<ReadonlyMap<string, SlurmJobState>> {
    for (;;) {
      signal?.throwIfAborted();
      for (const s of await this.poll()) onChange?.(s);
      if (this.done) return this.#states;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        }, this.#interval);
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
  }
}
