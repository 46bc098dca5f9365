// The one place the engine imports the sweep layer from (its public mod.ts only).
export {
  type Branch,
  type BranchMap,
  type ClaimInfo,
  type Combination,
  combinationId,
  combinationName,
  currentOwner,
  type InferCombination,
  type InferValue,
  isAlive,
  type JsonValue,
  liveness,
  ParamSweeper,
  Sweep,
  type SweepSpec,
  sweepStatus,
} from "../sweep/mod.ts";
