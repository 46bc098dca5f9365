/**
 * The detached jobs of a combination, on disk: `<combination>/jobs.json` holds one entry per
 * `ctx.detach()` call of the attempt (in call order), each with the references of the jobs
 * it started. It is written atomically (temp file, fsync, rename) before `ctx.detach()`
 * returns, and removed once the attempt's jobs have ended and their results are recorded.
 * A `jobs.json` found when an attempt starts was left by a runner that died: its jobs may
 * still run, and the body's calls to `ctx.detach()` take them back instead of starting
 * them again.
 *
 * An entry is written before its start too, `pending` with the claim key that every target's
 * start claims on its host: a runner killed during a start leaves it, and the next attempt
 * settles it ({@linkcode settleEntries}) before its body runs: on each target the job is found
 * by its claim, or the key is fenced off so that a start still on its way runs nothing.
 *
 * @module
 */

import { resolveRunDir, RunFolderError } from "./run_folder.ts";
import { checkJobRef, type JobRef, settleJobName } from "../jobs/mod.ts";
import type { Target } from "../process/mod.ts";
import { readJsonMaybe, writeJsonAtomic } from "./atomic.ts";
import { join } from "../process/mod.ts";

/** The file, in the combination's folder. */
export const JOBS_JSON = "jobs.json";

/** One job of an entry: the target it runs on (label) and its reference. */
export interface DetachedJob {
  /** The label of the target (as in `ctx.hosts`). */
  target: string;
  /** The job's reference (`attachJobs()` takes it back). */
  ref: JobRef;
}

/** One `ctx.detach()` call. */
export interface DetachedEntry {
  /** Its place among the attempt's `ctx.detach()` calls, from 0. */
  call: number;
  /** The job name. */
  name: string;
  /** The command per target, as given (JSON text of a string or argv). */
  commands: string[];
  /** The labels of the targets, in order. */
  targets: string[];
  /** The attempt that started the jobs. */
  attempt: number;
  /** The runner that started them. */
  runner: { host: string; pid: number };
  /** When they were started (ISO 8601). */
  started: string;
  /** The jobs that started. */
  jobs: DetachedJob[];
  /** Keep the job folders on the hosts after the attempt (default: they are removed). */
  keep?: boolean;
  /** Written before the start: settled by the claims on the hosts (`jobs` is empty). */
  pending?: PendingStart;
  /** Settled from a pending start that did not start on every target. */
  partial?: boolean;
}

/** A start under way when its entry was written. */
export interface PendingStart {
  /** The claim key of every target's start (see `claimJobName`). */
  claim: string;
  /** The jobs root on the hosts. */
  root: string;
  /** Each target's host, as in a job reference, in `targets` order. */
  hosts: JobRef["host"][];
}

/** The content of `jobs.json`. */
export interface JobsFile {
  /** Format version. */
  format: 1;
  /** The entries, in call order. */
  entries: DetachedEntry[];
}

/**
 * Reads `jobs.json` of a combination; entries with a malformed reference are dropped.
 *
 * @param dir The combination's folder.
 * @returns The entries (none if there is no file).
 */
export async function readJobsFile(dir: string): Promise<DetachedEntry[]> {
  let f: JobsFile | undefined;
  try {
    f = await readJsonMaybe<JobsFile>(join(dir, JOBS_JSON));
  } catch {
    return [];
  }
  if (!f || f.format !== 1 || !Array.isArray(f.entries)) return [];
  return f.entries.filter((e) => {
    try {
      for (const j of e.jobs) checkJobRef(j.ref);
      const p = e.pending;
      if (
        p !== undefined &&
        (typeof p.claim !== "string" || typeof p.root !== "string" || !Array.isArray(p.hosts) ||
          p.hosts.length !== e.targets.length)
      ) return false;
      return typeof e.call === "number" && Array.isArray(e.commands) && Array.isArray(e.targets);
    } catch {
      return false;
    }
  });
}

/**
 * Settles the entries whose start was under way when their runner died: on each target, the
 * claim says whether the job started (its reference goes into the entry) or never will (the
 * key is fenced off now, so a start still on its way fails and runs nothing). An entry that
 * did not start on every target is marked `partial`. Other entries are returned unchanged.
 *
 * @param entries The entries of `jobs.json`.
 * @param targetOf The target of an entry's target (by label, and host as in a job reference).
 * @returns The entries, none pending.
 * @throws {Error} If a host cannot be asked (the caller keeps `jobs.json` as it is).
 */
export async function settleEntries(
  entries: readonly DetachedEntry[],
  targetOf: (label: string, host: JobRef["host"], root: string) => Target,
): Promise<DetachedEntry[]> {
  return await Promise.all(entries.map(async (e) => {
    const p = e.pending;
    if (p === undefined) return e;
    const found = await Promise.all(e.targets.map(async (label, i) => {
      const job = await settleJobName(targetOf(label, p.hosts[i], p.root), p.claim, {
        root: p.root,
      });
      return job ? { target: label, ref: job.ref } : null;
    }));
    const jobs = found.filter((j): j is DetachedJob => j !== null);
    const { pending: _, ...rest } = e;
    return { ...rest, jobs, ...(jobs.length < e.targets.length ? { partial: true } : {}) };
  }));
}

/**
 * Writes `jobs.json` atomically and durably (it names remote work that must not be lost).
 *
 * @param dir The combination's folder.
 * @param entries The entries.
 */
export async function writeJobsFile(dir: string, entries: readonly DetachedEntry[]): Promise<void> {
  await writeJsonAtomic(
    join(dir, JOBS_JSON),
    { format: 1, entries: [...entries] } satisfies JobsFile,
    {
      fsync: true,
    },
  );
}

/**
 * Removes `jobs.json` (the jobs ended and are recorded).
 *
 * @param dir The combination's folder.
 */
export async function removeJobsFile(dir: string): Promise<void> {
  await Deno.remove(join(dir, JOBS_JSON)).catch(() => {});
}

/** The jobs recorded in a results folder, per combination. */
export interface RecordedJobs {
  /** The run folder. */
  runDir: string;
  /** The combination's folder name. */
  combination: string;
  /** Its entries. */
  entries: DetachedEntry[];
}

/**
 * The detached jobs recorded under a results folder: a run folder (has `run.json`), or an
 * experiment folder (its latest run).
 *
 * @param folder The folder.
 * @returns The combinations that hold jobs, or null if the folder is neither a run nor an
 *   experiment folder.
 *
 * @example
 * ```ts
 * import { defineExperiment, recordedJobs, runExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * import { join } from "node:path";
 *
 * const results = await Deno.makeTempDir();
 * const root = await Deno.makeTempDir(); // where the jobs keep their files
 * let seen: unknown;
 * const e = defineExperiment("long", { params: { n: [1] } }, async (ctx) => {
 *   const jobs = await ctx.detach("sleep 0.2; echo trained", { name: "train", root });
 *   // Recorded before ctx.detach() returned: a runner killed now finds them on --resume.
 *   const recorded = await recordedJobs(join(results, "long"));
 *   seen = recorded?.map((r) => [r.combination, r.entries.map((x) => x.name)]);
 *   await jobs.wait();
 * });
 * await runExperiments([e], { results, display: "none" });
 * deepStrictEqual(seen, [["n=1", ["train"]]]);
 * await Deno.remove(results, { recursive: true });
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function recordedJobs(folder: string): Promise<RecordedJobs[] | null> {
  let runDir: string;
  try {
    runDir = await resolveRunDir(folder);
  } catch (e) {
    if (e instanceof RunFolderError) return null;
    throw e;
  }
  const out: RecordedJobs[] = [];
  const names: string[] = [];
  for await (const e of Deno.readDir(runDir)) if (e.isDirectory) names.push(e.name);
  names.sort();
  for (const n of names) {
    const entries = await readJobsFile(join(runDir, n));
    if (entries.length) out.push({ runDir, combination: n, entries });
  }
  return out;
}
