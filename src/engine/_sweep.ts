// The one place the engine imports the sweep layer from (its public mod.ts only).
export {
  type Branch,
  type BranchMap,
  type Combination,
  combinationId,
  combinationName,
  type InferCombination,
  type InferValue,
  type JsonValue,
  ParamSweeper,
  Sweep,
  type SweepSpec,
} from "../sweep/mod.ts";
