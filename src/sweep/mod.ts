/**
 * Parameter sweeps: `sweep()` generates combinations lazily in a deterministic order;
 * `ParamSweeper` checkpoints which ones are todo, in progress, done, skipped or failed in a directory
 * that many processes on many hosts can share, and survives crashes without manual cleanup.
 *
 * ```ts
 * import { ParamSweeper, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await using sweeper = await ParamSweeper.open(dir, sweep({ n: [1, 2, 4], impl: ["a", "b"] }));
 * const seen: string[] = [];
 * for await (const c of sweeper) seen.push(`${c.impl}${c.n}`);
 * deepStrictEqual(seen, ["a1", "b1", "a2", "b2", "a4", "b4"]);
 * ```
 *
 * @module
 */

export * from "./combination.ts";
export * from "./sweep.ts";
export * from "./ranges.ts";
export {
  currentOwner,
  isAlive,
  type Liveness,
  liveness,
  type Owner,
  processStartTime,
} from "./owner.ts";
export {
  type ClaimInfo,
  type ClaimsOptions,
  type CombinationState,
  ParamSweeper,
  type ParamSweeperOptions,
  type RunOptions,
  type RunSummary,
  type SweeperTimers,
  type SweepStats,
} from "./param_sweeper.ts";
export { SweepFormatError, SweepWriteError } from "./journal.ts";
export type { ResetWhat } from "./_state.ts";
export {
  type CombinationReason,
  formatSweepStatus,
  resetSweep,
  type SweepStatus,
  sweepStatus,
  type SweepStatusOptions,
} from "./status.ts";
