/**
 * Slurm job states mapped to dexp outcomes: a pure function, so that the allocation, the
 * status display and (later) the job arrays agree on what a state means.
 *
 * @module
 */

/**
 * What a Slurm job's state means for dexp:
 * - `pending`: waiting to start (also requeued, held, configuring);
 * - `running`: started (also completing, suspended, signaling, staging out);
 * - `completed`: ended with exit code 0;
 * - `failed`: ended with a non-zero exit code (or could not start its program);
 * - `timeout`: reached its time limit (or its deadline);
 * - `cancelled`: cancelled by a user or an administrator (scancel, revoked);
 * - `node_fail`: a node it ran on failed (or did not boot);
 * - `preempted`: taken away for a job of higher priority;
 * - `out_of_memory`: killed for using more memory than allowed.
 */
export type SlurmOutcome =
  | "pending"
  | "running"
  | "completed"
  | "failed"
  | "timeout"
  | "cancelled"
  | "node_fail"
  | "preempted"
  | "out_of_memory";

/** A job's Slurm state with what it means. */
export interface SlurmJobState {
  /** The job id as Slurm prints it (`12`, or `12_3` for an array task). */
  readonly jobId: string;
  /** Slurm's state name, upper case, without decorations (`CANCELLED`, not `CANCELLED by 0`). */
  readonly state: string;
  /** What it means for dexp. */
  readonly outcome: SlurmOutcome;
  /** Whether the state can no longer change (the job ended). */
  readonly final: boolean;
  /** Slurm's reason (`Resources`, `Priority`, `NonZeroExitCode`, ...), or null when none. */
  readonly reason: string | null;
  /** The nodes it runs or ran on (Slurm's compact list, `n[1-2]`), or null when none yet. */
  readonly nodes: string | null;
}

const OUTCOMES: Record<string, SlurmOutcome> = {
  PENDING: "pending",
  CONFIGURING: "pending",
  REQUEUED: "pending",
  REQUEUE_HOLD: "pending",
  REQUEUE_FED: "pending",
  RESV_DEL_HOLD: "pending",
  RUNNING: "running",
  COMPLETING: "running",
  SUSPENDED: "running",
  STOPPED: "running",
  SIGNALING: "running",
  STAGE_OUT: "running",
  RESIZING: "running",
  UPDATE_DB: "running",
  POWER_UP_NODE: "pending",
  COMPLETED: "completed",
  FAILED: "failed",
  SPECIAL_EXIT: "failed",
  TIMEOUT: "timeout",
  DEADLINE: "timeout",
  CANCELLED: "cancelled",
  REVOKED: "cancelled",
  NODE_FAIL: "node_fail",
  BOOT_FAIL: "node_fail",
  PREEMPTED: "preempted",
  OUT_OF_MEMORY: "out_of_memory",
};

const SHORT: Record<string, string> = {
  PD: "PENDING",
  CF: "CONFIGURING",
  RQ: "REQUEUED",
  RH: "REQUEUE_HOLD",
  RF: "REQUEUE_FED",
  RD: "RESV_DEL_HOLD",
  R: "RUNNING",
  CG: "COMPLETING",
  S: "SUSPENDED",
  ST: "STOPPED",
  SI: "SIGNALING",
  SO: "STAGE_OUT",
  RS: "RESIZING",
  CD: "COMPLETED",
  F: "FAILED",
  SE: "SPECIAL_EXIT",
  TO: "TIMEOUT",
  DL: "DEADLINE",
  CA: "CANCELLED",
  RV: "REVOKED",
  NF: "NODE_FAIL",
  BF: "BOOT_FAIL",
  PR: "PREEMPTED",
  OOM: "OUT_OF_MEMORY",
};

/**
 * Maps a Slurm job state, as squeue, scontrol, sacct or the job completion log print it, to
 * a dexp outcome. Accepts long names (`RUNNING`), squeue's short codes (`R`) and sacct's
 * decorations (`CANCELLED by 1000`): the first word counts.
 *
 * @param state Slurm's state text.
 * @param reason Slurm's reason, if known (`None` and `(null)` count as none).
 * @param jobId The job id, for the result.
 * @returns The state, its outcome and whether it is final.
 * @throws {RangeError} For a state Slurm does not have.
 *
 * @example
 * ```ts
 * import { slurmOutcome } from "@dexp/dexp";
 * import assert from "node:assert";
 * assert.equal(slurmOutcome("CANCELLED by 0").outcome, "cancelled");
 * assert.equal(slurmOutcome("PD", "Resources").reason, "Resources");
 * ```
 */
export function slurmOutcome(
  state: string,
  reason: string | null = null,
  jobId = "",
): SlurmJobState {
  const word = state.trim().split(/[\s+]/)[0].toUpperCase();
  const name = SHORT[word] ?? word;
  const outcome = OUTCOMES[name];
  if (outcome === undefined) {
    throw new RangeError(
      `Unknown Slurm job state '${state}': expected one of ${Object.keys(OUTCOMES).join(", ")}`,
    );
  }
  const r = reason === null ? "" : reason.trim().replace(/^\((.*)\)$/, "$1");
  return {
    jobId,
    state: name,
    outcome,
    final: outcome !== "pending" && outcome !== "running",
    reason: r === "" || r === "None" || r === "null" ? null : r,
    nodes: null,
  };
}
