/**
 * `listRuns()`: the runs in a results folder and how far they got.
 *
 * @module
 */

import { join } from "node:path";
import { readJsonMaybe } from "./atomic.ts";
import type { CombinationRecord, RunJson } from "./runner.ts";
import { listRunIds, RESULT_JSON, RUN_JSON } from "./rundir.ts";

/** One run, as listed by {@linkcode listRuns}. */
export interface RunInfo {
  /** The experiment. */
  experiment: string;
  /** The run id. */
  runId: string;
  /** The run folder. */
  runDir: string;
  /** `running`, `finished` or `interrupted` (from `run.json`). */
  state: string;
  /** Start (ISO 8601). */
  start: string;
  /** Last end, if any. */
  end?: string;
  /** Number of combinations. */
  total: number;
  /** Succeeded so far. */
  ok: number;
  /** Failed so far. */
  failed: number;
  /** Not finished. */
  remaining: number;
}

/**
 * Lists the runs of a results folder, counting finished combinations from their result
 * files (so a run in progress shows its progress).
 *
 * @param results The results folder.
 * @returns Runs sorted by experiment, then run id.
 * @example
 * ```ts ignore
 * import { listRuns } from "./status.ts";
 * for (const r of await listRuns("results")) console.log(r.experiment, r.runId, r.ok, r.total);
 * ```
 */
export async function listRuns(results: string): Promise<RunInfo[]> {
  const out: RunInfo[] = [];
  let exps: string[] = [];
  try {
    for await (const e of Deno.readDir(results)) if (e.isDirectory) exps.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  exps = exps.sort();
  for (const exp of exps) {
    for (const runId of await listRunIds(join(results, exp))) {
      const runDir = join(results, exp, runId);
      const rj = await readJsonMaybe<RunJson>(join(runDir, RUN_JSON));
      if (!rj) continue;
      let ok = 0, failed = 0;
      for await (const e of Deno.readDir(runDir)) {
        if (!e.isDirectory || e.name.startsWith(".")) continue;
        const rec = await readJsonMaybe<CombinationRecord>(join(runDir, e.name, RESULT_JSON));
        if (rec?.outcome === "ok") ok++;
        else if (rec?.outcome === "failed") failed++;
      }
      out.push({
        experiment: rj.experiment,
        runId,
        runDir,
        state: rj.state,
        start: rj.start,
        ...(rj.end ? { end: rj.end } : {}),
        total: rj.total,
        ok,
        failed,
        remaining: Math.max(0, rj.total - ok - failed),
      });
    }
  }
  return out;
}
