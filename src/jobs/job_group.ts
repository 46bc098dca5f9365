/**
 * `JobGroup`: detached jobs on many hosts, handled together; `attachJobs()` takes jobs back
 * from their references, `listJobs()` finds them on hosts.
 *
 * @module
 */

import { Settled, toMillis } from "../process/mod.ts";
import { GroupError, GroupResult } from "../action/mod.ts";
import type { ProcessResult, Target } from "../process/mod.ts";
import { byHost, failureText, runScripts, sleep, statuses } from "./_batch.ts";
import { forgetJobs, Job, killJobs, type KillOptions, type WaitOptions } from "./job.ts";
import { checkJobRef, hostKey, hostOfTarget, type JobRef, targetOfRef } from "./job_ref.ts";
import { decideStatus, type JobStatus, parseReports } from "./job_status.ts";
import { checkJobName, checkRemotePath, DEFAULT_JOBS_ROOT } from "./names.ts";
import { listScript } from "./supervisor.ts";

/**
 * Detached jobs, in order (one per host of the group they were started on).
 *
 * @example
 * ```ts
 * import { detach, local } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir(); // where the jobs keep their files (default ~/.dexp/jobs)
 * const jobs = await detach(local(2).run("echo started; sleep 60"), { name: "demo", root });
 * strictEqual(jobs.length, 2);
 * const saved = JSON.stringify(jobs.refs); // enough for any later process to attach
 * strictEqual(JSON.parse(saved).length, 2);
 * await jobs.kill();
 * const r = await jobs.wait(); // a GroupResult, as for an attached command
 * strictEqual(r.results.every((p) => p.signal === "SIGTERM"), true);
 * await jobs.forget();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class JobGroup extends Settled<GroupResult, WaitOptions> implements Iterable<Job> {
  /** The jobs. */
  readonly jobs: readonly Job[];
  /** Start attempts that failed (only under `noThrow()`; otherwise `detach` rejects). */
  readonly failed: readonly ProcessResult[];

  /**
   * Makes a group of jobs; prefer {@linkcode attachJobs} or `detach()`.
   *
   * @param jobs The jobs.
   * @param failed Failed start attempts.
   */
  constructor(jobs: readonly Job[], failed: readonly ProcessResult[] = []) {
    super();
    this.jobs = Object.freeze([...jobs]);
    this.failed = Object.freeze([...failed]);
  }

  /** Number of jobs. */
  get length(): number {
    return this.jobs.length;
  }

  /** The references of every job: plain JSON for `attachJobs()`. */
  get refs(): JobRef[] {
    return this.jobs.map((j) => j.ref);
  }

  /** Iterates over the jobs. */
  [Symbol.iterator](): Iterator<Job> {
    return this.jobs[Symbol.iterator]();
  }

  /**
   * The state of every job: one round trip per host, however many jobs it has.
   *
   * @returns One state per job, in order.
   */
  status(): Promise<JobStatus[]> {
    return statuses(this.jobs);
  }

  /**
   * Waits until every job ended; never rejects for the jobs' own failures.
   *
   * @param options Poll interval, abort signal, capture limit.
   * @returns The group result, one entry per job (as for attached commands).
   */
  async result(options: WaitOptions = {}): Promise<GroupResult> {
    const interval = Math.ceil(toMillis(options.interval ?? 1000, "interval"));
    let st = await this.status();
    while (st.some((s) => s.state === "running" || s.state === "unknown")) {
      await sleep(interval, options.signal);
      st = await this.status();
    }
    const rs = await Promise.all(this.jobs.map((j) => j.result({ ...options, interval })));
    return new GroupResult(rs);
  }

  /**
   * The error a failed group means, for `wait()`: a {@linkcode GroupError} carrying every
   * result when a job failed (jobs killed by dexp excepted).
   *
   * @param r The group result.
   * @returns The error, or undefined.
   */
  protected failureOf(r: GroupResult): Error | undefined {
    return r.results.some((x) => x.failure && x.failure !== "killed")
      ? new GroupError(r)
      : undefined;
  }

  /**
   * Ends every job's whole session: one kill script per host.
   *
   * @param signal The first signal (default SIGTERM; SIGKILL after the grace period).
   * @param options Grace and settle times.
   * @returns The final states.
   */
  kill(signal: Deno.Signal = "SIGTERM", options: KillOptions = {}): Promise<JobStatus[]> {
    return killJobs(this.jobs, signal, options);
  }

  /**
   * Kills the jobs that run and removes every job folder.
   *
   * @returns Resolves when the folders are gone.
   */
  forget(): Promise<void> {
    return forgetJobs(this.jobs);
  }
}

/** Options of {@linkcode attachJobs}. */
export interface AttachOptions {
  /**
   * Makes the target of a reference the jobs layer cannot make itself (a node of a Slurm
   * allocation), or returns undefined to let it make hosts and local targets. Called once
   * per distinct host. The main module's `attachJobs` passes the Slurm layer's.
   */
  readonly target?: (ref: JobRef) => Target | undefined;
}

/**
 * Takes jobs back from their references (from `job.ref`, `group.refs`, or their JSON text),
 * e.g. in another process after the one that started them died. Jobs on the same host share
 * one target, so one connection. The `attachJobs` of the main module (`@dexp/dexp`) also
 * takes back jobs on the nodes of a Slurm allocation; this one (of the jobs layer) needs
 * `options.target` for those.
 *
 * @param refs One reference, a list, or JSON text of either.
 * @param options `target`: makes targets the jobs layer does not know.
 * @returns The jobs.
 * @throws {TypeError} If a reference is malformed.
 *
 * @example
 * ```ts ignore
 * import { attachJobs } from "@dexp/dexp";
 * const jobs = attachJobs(await Deno.readTextFile("jobs.json"));
 * console.log(await jobs.status());
 * ```
 */
export function attachJobs(
  refs: JobRef | readonly JobRef[] | string,
  options: AttachOptions = {},
): JobGroup {
  let value: unknown = refs;
  if (typeof refs === "string") {
    try {
      value = JSON.parse(refs);
    } catch (e) {
      throw new TypeError(`Job references are not JSON: ${(e as Error).message}`);
    }
  }
  const list = Array.isArray(value) ? value : [value];
  const cache = new Map<string, Target>();
  return new JobGroup(list.map((r) => {
    const ref = checkJobRef(r);
    const key = hostKey(ref.host);
    let t = options.target !== undefined ? cache.get(key) : undefined;
    if (t === undefined && options.target !== undefined) {
      t = options.target(ref);
      if (t !== undefined) cache.set(key, t);
    }
    return new Job(ref, t ?? targetOfRef(ref, cache));
  }));
}

/** One job found by {@linkcode listJobs}. */
export interface JobListing {
  /** The job. */
  readonly job: Job;
  /** Its name. */
  readonly name: string;
  /** When it was created (host clock). */
  readonly created: Date | null;
  /** Its state now. */
  readonly status: JobStatus;
}

/** Options of {@linkcode listJobs}. */
export interface ListOptions {
  /** Only jobs with this name. */
  readonly name?: string;
  /** The jobs root on the hosts (default `~/.dexp/jobs`). */
  readonly root?: string;
}

/**
 * Lists the jobs on hosts (one round trip per host), with their states.
 *
 * @param nodes A group of hosts (or local targets), or a list of targets.
 * @param options Filter by name; another root.
 * @returns The jobs, host by host, oldest first.
 * @throws {Error} If a host cannot be reached.
 *
 * @example
 * ```ts
 * import { detach, listJobs, local } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const slot = local(1);
 * const jobs = await detach(slot.run("sleep 60"), { name: "listed", root });
 * const found = await listJobs(slot, { root });
 * deepStrictEqual(found.map((j) => [j.name, j.status.state]), [["listed", "running"]]);
 * await jobs.forget();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function listJobs(
  nodes: Iterable<Target>,
  options: ListOptions = {},
): Promise<JobListing[]> {
  const root = checkRemotePath(options.root ?? DEFAULT_JOBS_ROOT, "'root'");
  if (options.name !== undefined) checkJobName(options.name);
  const targets = [...nodes];
  const placed = targets.map((t) => ({
    target: t,
    ref: { v: 1, host: hostOfTarget(t), id: "x", root } as JobRef,
    root,
    id: "x",
  }));
  const groups = byHost(placed);
  const results = await runScripts(groups.map((g) => g.target), groups.map(() => listScript(root)));
  const out: JobListing[] = [];
  results.forEach((r, i) => {
    const target = groups[i].target;
    if (!r.ok) throw new Error(`Cannot list the jobs on ${target.label}: ${failureText(r)}`);
    for (const rep of parseReports(r.stdout)) {
      const name = rep.meta.name ?? "";
      if (options.name !== undefined && name !== options.name) continue;
      let job: Job;
      try {
        job = new Job({ v: 1, host: hostOfTarget(target), id: rep.id, root }, target);
      } catch {
        continue; // Not a folder dexp made.
      }
      const created = Number(rep.meta.created);
      out.push({
        job,
        name,
        created: Number.isFinite(created) ? new Date(created) : null,
        status: decideStatus(rep),
      });
    }
  });
  return out.sort((a, b) =>
    a.job.target.label === b.job.target.label
      ? (a.created?.getTime() ?? 0) - (b.created?.getTime() ?? 0)
      : 0
  );
}
