/**
 * "An experiment folder means its latest run": the one rule, used by every verb and script
 * that takes a run folder.
 *
 * @module
 */

import { listRunIds, RUN_JSON } from "./rundir.ts";
import { join } from "../process/mod.ts";

/** A path is neither a run folder nor an experiment folder with runs. *
 * @example
 * ```ts
 * import { resolveRunDir, RunFolderError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * const empty = await Deno.makeTempDir(); // an experiment folder with no run yet
 * await rejects(resolveRunDir(empty), RunFolderError);
 * await Deno.remove(empty);
 * ```
 */
export class RunFolderError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong and what to give instead.
   */
  constructor(message: string) {
    super(message);
    this.name = "RunFolderError";
  }
}

/**
 * The run folder a path means: a run folder (`<results>/<experiment>/<run-id>`, it holds
 * `run.json`) is itself; an experiment folder (`<results>/<experiment>`) means its latest
 * run (run ids sort by time).
 *
 * @param dir A run folder or an experiment folder.
 * @returns The run folder.
 * @throws {RunFolderError} If `dir` does not exist or holds no run.
 *
 * @example
 * ```ts ignore
 * import { resolveRunDir } from "@dexp/dexp";
 * const latest = await resolveRunDir("results/train"); // results/train/20260101-120000-ab12
 * ```
 */
export async function resolveRunDir(dir: string): Promise<string> {
  try {
    await Deno.stat(join(dir, RUN_JSON));
    return dir;
  } catch { /* maybe an experiment folder */ }
  let ids: string[];
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Deno.errors.NotADirectory(dir);
    ids = await listRunIds(dir);
  } catch {
    throw new RunFolderError(
      `No such run folder: '${dir}': give <results>/<experiment>/<run-id> or <results>/<experiment>`,
    );
  }
  const last = ids.sort().at(-1);
  if (!last) {
    throw new RunFolderError(
      `'${dir}' is not a run folder: give <results>/<experiment>/<run-id> or <results>/<experiment>`,
    );
  }
  return join(dir, last);
}
