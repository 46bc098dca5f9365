/**
 * The Slurm layer: allocations as groups of targets whose commands run as job steps, Slurm
 * job states mapped to dexp outcomes, batched state tracking.
 *
 * @module
 */

export {
  slurmAllocate,
  type SlurmAllocateOptions,
  SlurmAllocation,
  type SlurmProgress,
  slurmTime,
} from "./allocate.ts";
export { SlurmError, type SlurmErrorKind } from "./errors.ts";
export { attachJobs } from "./attach.ts";
export { SlurmNode } from "./node.ts";
export { type SlurmDirection, SlurmTransferTarget } from "./transfer.ts";
export { type SlurmJobState, type SlurmOutcome, slurmOutcome } from "./state.ts";
export {
  parseJobcomp,
  parseSacct,
  parseSqueue,
  querySlurmJobs,
  type SlurmQueryOptions,
  SlurmTracker,
  type SlurmTrackerOptions,
} from "./tracker.ts";
export { arraySbatchArgs, cancelJobs, type SlurmArrayOptions, submitArray } from "./array.ts";
