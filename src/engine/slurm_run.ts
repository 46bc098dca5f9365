/**
 * A run's combinations as a Slurm job array: the controller prepares the run folder, submits
 * one array of worker tasks that each continue that folder (claiming combinations from its
 * shared sweep), and records the array in `<run>/slurm.json` so that `dexp status` and
 * `dexp cancel` find it.
 *
 * @module
 */

import {
  cancelJobs,
  type SlurmArrayOptions,
  type SlurmJobState,
  SlurmTracker,
  submitArray,
} from "../slurm/mod.ts";
import { readJsonMaybe, writeJsonAtomic } from "./atomic.ts";
import { fromFileUrl, join } from "../process/mod.ts";

/** The file, in the run folder, that records the run's Slurm arrays. */
export const SLURM_JSON = "slurm.json";

/**
 * Set in a worker task's environment: the run folder it continues. `runExperiments()` with
 * a `slurm` option then runs as a worker of that folder instead of submitting.
 */
export const SLURM_RUN_DIR_ENV = "DEXP_SLURM_RUN_DIR";

/** The `slurm` option of `runExperiments()`: how to submit the run as a job array. */
export interface SlurmRunOptions extends SlurmArrayOptions {
  /**
   * The argv every task runs for a run folder (absolute paths). Default: this program again
   * (`deno run -A <main module> <its arguments>`) with `DEXP_SLURM_RUN_DIR` set, so that its
   * `runExperiments()` works on that folder.
   */
  readonly command?: (runDir: string) => string[];
}

/** One submitted array, as `slurm.json` records it. */
export interface SlurmArrayRecord {
  /** The array's job id. */
  jobId: string;
  /** Number of tasks. */
  tasks: number;
  /** Throttle (`%K`), if any. */
  throttle?: number;
  /** When it was submitted (ISO 8601). */
  submitted: string;
  /** What each task runs. */
  command: string[];
}

/** The content of `slurm.json`. */
export interface SlurmRunJson {
  /** Format version. */
  format: 1;
  /** Environment of the Slurm commands the controller used (e.g. `SLURM_CONF`). */
  env: Record<string, string>;
  /** Every array submitted for the run, oldest first. */
  arrays: SlurmArrayRecord[];
}

function defaultCommand(runDir: string): string[] {
  const main = Deno.mainModule.startsWith("file:") ? fromFileUrl(Deno.mainModule) : Deno.mainModule;
  return [
    "env",
    `${SLURM_RUN_DIR_ENV}=${runDir}`,
    Deno.execPath(),
    "run",
    "-A",
    main,
    ...Deno.args,
  ];
}

/**
 * Submits one array of worker tasks for a prepared run folder and records it (atomically)
 * in the folder's `slurm.json`.
 *
 * @param runDir The run folder (absolute).
 * @param options The array's options.
 * @returns The record of the array.
 */
export async function submitRunArray(
  runDir: string,
  options: SlurmRunOptions,
): Promise<SlurmArrayRecord> {
  const command = (options.command ?? defaultCommand)(runDir);
  const jobId = await submitArray(command, {
    ...options,
    output: options.output ?? join(runDir, ".slurm-%A_%a.out"),
  });
  const rec: SlurmArrayRecord = {
    jobId,
    tasks: options.tasks ?? 4,
    ...(options.throttle !== undefined ? { throttle: options.throttle } : {}),
    submitted: new Date().toISOString(),
    command,
  };
  const prev = await readSlurmJson(runDir);
  await writeJsonAtomic(
    join(runDir, SLURM_JSON),
    {
      format: 1,
      env: { ...(prev?.env ?? {}), ...(options.env ?? {}) },
      arrays: [...(prev?.arrays ?? []), rec],
    } satisfies SlurmRunJson,
    { fsync: true },
  );
  return rec;
}

/**
 * Reads a run folder's `slurm.json`.
 *
 * @param runDir The run folder.
 * @returns Its content, or undefined when the run was not submitted to Slurm.
 */
export function readSlurmJson(runDir: string): Promise<SlurmRunJson | undefined> {
  return readJsonMaybe<SlurmRunJson>(join(runDir, SLURM_JSON));
}

/** The Slurm side of a run: its arrays' tasks and their states. */
export interface RunSlurmStates {
  /** The arrays' job ids, oldest first. */
  arrays: string[];
  /** The tasks' states, by task id (`12_3`), as one batched query found them. */
  tasks: SlurmJobState[];
}

/**
 * The states of a run's array tasks, in one batched query (squeue, then accounting or the
 * job completion log for the tasks the controller forgot).
 *
 * @param runDir The run folder.
 * @param options The job completion log to read when there is no accounting.
 * @returns The states, or undefined when the run has no `slurm.json`.
 *
 * @example
 * ```ts
 * import { defineExperiment, listRuns, runExperiments, runSlurmStates } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * // A run that was not submitted to Slurm has no array states.
 * const results = await Deno.makeTempDir();
 * await runExperiments([defineExperiment("here", {}, () => {})], { results, display: "none" });
 * const [run] = await listRuns(results);
 * strictEqual(await runSlurmStates(run.runDir), undefined);
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export async function runSlurmStates(
  runDir: string,
  options: { jobcompFile?: string } = {},
): Promise<RunSlurmStates | undefined> {
  const sj = await readSlurmJson(runDir);
  if (!sj) return undefined;
  const arrays = sj.arrays.map((a) => a.jobId);
  const tracker = new SlurmTracker(arrays, { env: sj.env, ...options });
  await tracker.poll();
  const tasks = [...tracker.states.values()].sort((a, b) =>
    a.jobId.localeCompare(b.jobId, "en", { numeric: true })
  );
  return { arrays, tasks };
}

/**
 * Counts task states as `2 RUNNING, 1 PENDING`.
 *
 * @param tasks The tasks' states.
 * @returns The summary, or `unknown` when Slurm knows none of them.
 */
export function describeSlurmStates(tasks: readonly SlurmJobState[]): string {
  if (tasks.length === 0) return "unknown";
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
}

/**
 * Cancels every array of a run (`scancel`).
 *
 * @param runDir The run folder.
 * @returns The cancelled arrays' job ids (empty when the run has no `slurm.json`).
 *
 * @example
 * ```ts
 * import { cancelRunArrays, defineExperiment, listRuns, runExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * // A run submitted with `slurm` gets its arrays cancelled; a local run has none.
 * const results = await Deno.makeTempDir();
 * await runExperiments([defineExperiment("here", {}, () => {})], { results, display: "none" });
 * const [run] = await listRuns(results);
 * deepStrictEqual(await cancelRunArrays(run.runDir), []);
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export async function cancelRunArrays(runDir: string): Promise<string[]> {
  const sj = await readSlurmJson(runDir);
  if (!sj) return [];
  const ids = sj.arrays.map((a) => a.jobId);
  await cancelJobs(ids, sj.env);
  return ids;
}

function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Slurm job this process runs as, when it is a worker task of a submitted array
 * (`DEXP_SLURM_RUN_DIR` set): `ARRAY_TASK` (`12_3`) for an array task, else `SLURM_JOB_ID`.
 * Recorded as the owner of its sweep claims, so that the same task, requeued, gives back at
 * once what its earlier instance held.
 *
 * @returns The job's id, or undefined outside a worker task.
 */
export function slurmTaskJob(): string | undefined {
  if (envOf(SLURM_RUN_DIR_ENV) === undefined) return undefined;
  const array = envOf("SLURM_ARRAY_JOB_ID");
  const task = envOf("SLURM_ARRAY_TASK_ID");
  if (array !== undefined && task !== undefined) return `${array}_${task}`;
  return envOf("SLURM_JOB_ID");
}

/** Most time the squeue of slurmTaskEnding() may take. */
const SQUEUE_DEADLINE = 15_000;

/**
 * Whether the Slurm job this worker task runs as is being ended (scancel, requeue,
 * preemption, time limit): asked when an attempt failed and the run was not (yet) stopped.
 * Slurm signals the task's commands as well as the task, and a command that dies of the
 * signal can be seen before the task's own signal handler runs; such an attempt was cut by
 * Slurm, not failed. Slurm marks the job before it signals it, so a job that squeue no
 * longer shows RUNNING is being ended; a bare `scancel --signal` leaves it RUNNING, and the
 * query's round trip gives the task's own handler its turn (`signal` then says so).
 *
 * @param signal The run's signal, aborted by the task's signal handler.
 * @returns True when the failed attempt must go back to todo uncharged.
 */
export async function slurmTaskEnding(signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return true;
  const job = envOf("SLURM_JOB_ID");
  if (job === undefined || envOf(SLURM_RUN_DIR_ENV) === undefined) return false;
  let state = "";
  try {
    const out = await new Deno.Command("squeue", {
      args: ["-h", "-j", job, "-o", "%T"],
      // A controller that does not answer must not hold the attempt's end for ever.
      signal: AbortSignal.timeout(SQUEUE_DEADLINE),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    state = new TextDecoder().decode(out.stdout).trim();
  } catch {
    // No squeue here: only the signal can tell.
  }
  // Yield once more so that a signal delivered meanwhile reaches its handler.
  await new Promise((r) => setTimeout(r, 0));
  return signal.aborted || (state !== "" && state !== "RUNNING");
}
