/**
 * Result folders: `<results>/<experiment>/<run-id>/`, chosen under a lock so that concurrent
 * `dexp run --resume` on several machines agree on the run to continue.
 *
 * @module
 */

import { type Combination, combinationName } from "./_sweep.ts";
import { join } from "../process/mod.ts";

/** Name of the per-run description file. */
export const RUN_JSON = "run.json";
/** Name of a combination's outcome file. */
export const RESULT_JSON = "result.json";
/** Name of the log files (run and combination). */
export const LOG_TXT = "log.txt";
/** Name of the sweep checkpoint folder inside a run. */
export const SWEEP_DIR = ".sweep";
/** Name of a combination's result rows file (`ctx.addRows`, read by `dexp report`). */
export const ROWS_JSONL = "rows.jsonl";
/** Name of a combination's outcome file while its checkpoint entry is not written yet. */
export const RESULT_PENDING_JSON = ".result.pending.json";

/** The folder of the combination of an experiment without parameters. */
export const NO_PARAMS_FOLDER = "default";

/**
 * The folder name of a combination in its run: `a=1_b=2` (see `combinationName`), or
 * `default` for the one combination of an experiment without parameters (a name with
 * parameters always holds `=`, so the two cannot clash).
 *
 * @param combination The parameters.
 * @returns The folder name.
 * @example
 * ```ts
 * import { comboFolderName } from "./rundir.ts";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual([comboFolderName({ b: 2, a: 1 }), comboFolderName({})], ["a=1_b=2", "default"]);
 * ```
 */
export function comboFolderName(combination: Combination): string {
  return Object.keys(combination).length === 0 ? NO_PARAMS_FOLDER : combinationName(combination);
}

/**
 * A new run id: UTC date and time (sortable), then 4 random hex digits.
 *
 * @param at The time (default now).
 * @returns E.g. `20250101-120000-3fa2`.
 */
export function newRunId(at: Date = new Date()): string {
  const iso = at.toISOString(); // 2025-01-01T12:00:00.000Z
  const rand = crypto.getRandomValues(new Uint8Array(2));
  return `${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}-${
    [...rand].map((b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/** The shape of a run id made by `newRunId`: `YYYYMMDD-HHMMSS-xxxx`. */
export const RUN_ID_PATTERN: RegExp = /^\d{8}-\d{6}-[0-9a-f]{4}$/;

/**
 * Whether a folder name is a run id (see `newRunId`).
 *
 * @param name A folder name.
 * @returns True for `20250101-120000-3fa2`.
 */
export function isRunId(name: string): boolean {
  return RUN_ID_PATTERN.test(name);
}

/**
 * The run folders of an experiment, oldest first.
 *
 * @param experimentDir `<results>/<experiment>`.
 * @returns Folder names.
 */
export async function listRunIds(experimentDir: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const e of Deno.readDir(experimentDir)) {
      if (e.isDirectory && isRunId(e.name)) ids.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return ids.sort();
}

/**
 * Chooses the run folder of an experiment and creates it: a new one, or with `resume` the
 * latest existing one (a new one if there is none). The choice is made under an exclusive
 * lock on `<results>/<experiment>/.lock`, so concurrent resumers pick the same folder.
 *
 * @param results The results folder.
 * @param experiment The experiment's name.
 * @param resume Continue the latest run.
 * @returns The run id and folder, and whether it existed.
 */
export async function chooseRunDir(
  results: string,
  experiment: string,
  resume: boolean,
): Promise<{ runId: string; runDir: string; existed: boolean }> {
  const expDir = join(results, experiment);
  await Deno.mkdir(expDir, { recursive: true });
  using lock = await Deno.open(join(expDir, ".lock"), { write: true, create: true });
  await lock.lock(true);
  try {
    if (resume) {
      const ids = await listRunIds(expDir);
      const last = ids.at(-1);
      if (last) return { runId: last, runDir: join(expDir, last), existed: true };
    }
    for (;;) {
      const runId = newRunId();
      const runDir = join(expDir, runId);
      try {
        await Deno.mkdir(runDir);
        return { runId, runDir, existed: false };
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
  } finally {
    await lock.unlock();
  }
}
