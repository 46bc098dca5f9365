/**
 * `listRuns()`: the runs in a results folder and how far they got.
 *
 * @module
 */

import {
  type ClaimInfo,
  type Combination,
  currentOwner,
  isAlive,
  liveness,
  sweepStatus,
} from "./_sweep.ts";
import { readJsonMaybe } from "./atomic.ts";
import type { CombinationRecord, RunJson } from "./runner.ts";
import { listRunIds, RESULT_JSON, RUN_JSON, SWEEP_DIR } from "./rundir.ts";
import { join } from "../process/mod.ts";

/** What {@linkcode runLiveness} finds out about a run recorded as running. */
export interface RunLiveness {
  /**
   * `running` only while one of its runners lives; `interrupted` if `run.json` says
   * `running` but every runner is gone; otherwise what `run.json` says.
   */
  state: RunJson["state"];
  /** The combinations claimed by a live runner right now. */
  claims: ClaimInfo<Combination>[];
}

/**
 * Tells whether a run that `run.json` records as running still has a live runner, the way
 * the sweeper judges a claim's owner: on the same host (and boot) the process must exist with
 * its recorded start time (a reused pid does not count); a runner on another host lives while
 * a lease of one of its claims is valid.
 *
 * @param runDir The run folder.
 * @param run Its `run.json`.
 * @param now The current time in ms since the epoch (default now).
 * @returns The true state and the live claims.
 * @example
 * ```ts ignore
 * import { runLiveness } from "@dexp/dexp";
 * const rj = JSON.parse(await Deno.readTextFile("results/grid/20250101-120000-3fa2/run.json"));
 * console.log((await runLiveness("results/grid/20250101-120000-3fa2", rj)).state);
 * ```
 */
export async function runLiveness(
  runDir: string,
  run: RunJson,
  now: number = Date.now(),
): Promise<RunLiveness> {
  let claims: ClaimInfo<Combination>[] = [];
  try {
    claims = (await sweepStatus(join(runDir, SWEEP_DIR), { now: () => now })).claims;
  } catch { /* no checkpoint yet: no claims */ }
  const live = claims.filter((c) => isAlive(c.liveness));
  if (run.state !== "running") return { state: run.state, claims: live };
  const me = currentOwner();
  const alive = (run.runners ?? []).some((r) => {
    const host = r.host.replace(/[\t\n\r|]/g, "_");
    const held = claims.filter((c) => c.owner.host === host && c.owner.pid === r.pid);
    if (r.boot === undefined || r.ticks === undefined) {
      // Written by an older dexp: only its claims tell.
      return held.some((c) => isAlive(c.liveness));
    }
    const lease = Math.max(0, ...held.map((c) => c.leaseExpiresAt));
    const owner = { host, pid: r.pid, boot: r.boot, start: r.ticks, instance: 0 };
    return isAlive(liveness(owner, me, lease, now));
  });
  return { state: alive ? "running" : "interrupted", claims: live };
}

/** One run, as listed by {@linkcode listRuns}. */
export interface RunInfo {
  /** The experiment. */
  experiment: string;
  /** The run id. */
  runId: string;
  /** The run folder. */
  runDir: string;
  /**
   * `running`, `finished` or `interrupted`: from `run.json`, except that a run recorded as
   * running whose runners are all dead is `interrupted` (see {@linkcode runLiveness}).
   */
  state: string;
  /** What `run.json` says, when it differs from `state` (e.g. `running` for a killed run). */
  recorded?: string;
  /** Start (ISO 8601). */
  start: string;
  /** Last end, if any. */
  end?: string;
  /** Number of combinations. */
  total: number;
  /** Succeeded so far. */
  succeeded: number;
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
 * import { listRuns } from "@dexp/dexp";
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
      const { state } = await runLiveness(runDir, rj);
      out.push({
        experiment: rj.experiment,
        runId,
        runDir,
        state,
        ...(state !== rj.state ? { recorded: rj.state } : {}),
        start: rj.start,
        ...(rj.end ? { end: rj.end } : {}),
        total: rj.total,
        succeeded: ok,
        failed,
        remaining: Math.max(0, rj.total - ok - failed),
      });
    }
  }
  return out;
}
