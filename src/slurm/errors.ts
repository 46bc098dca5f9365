/**
 * Errors of the Slurm backend: Slurm missing, a submission refused, an allocation that never
 * started.
 *
 * @module
 */

/** Why a Slurm operation failed. */
export type SlurmErrorKind = "missing" | "rejected" | "partition" | "pending" | "ended" | "query";

/**
 * A Slurm command failed or an allocation could not be had. The message names the fix;
 * `kind` says which case it is, `stderr` holds what Slurm printed.
 *
 * @example
 * ```ts
 * import { SlurmError } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * // Thrown by the Slurm functions; built here only to show its fields.
 * const e = new SlurmError("rejected", "sbatch refused the job: check 'partition'", {
 *   jobId: null,
 *   stderr: "sbatch: error: invalid partition",
 * });
 * strictEqual(e.kind, "rejected");
 * strictEqual(e.name, "SlurmError");
 * ```
 */
export class SlurmError extends Error {
  /**
   * `missing` (no Slurm client here), `rejected` (sbatch refused the job), `partition` (no
   * such partition), `pending` (still pending at `pendingLimit`), `ended` (the allocation
   * ended before it ran), `query` (squeue/scontrol failed).
   */
  readonly kind: SlurmErrorKind;
  /** The job id, when one was given. */
  readonly jobId: string | null;
  /** What the Slurm command printed on standard error. */
  readonly stderr: string;

  /**
   * Makes the error.
   *
   * @param kind Which case.
   * @param message The message, naming the fix.
   * @param options The job id and Slurm's standard error.
   */
  constructor(
    kind: SlurmErrorKind,
    message: string,
    options: { jobId?: string | null; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SlurmError";
    this.kind = kind;
    this.jobId = options.jobId ?? null;
    this.stderr = options.stderr ?? "";
  }
}
