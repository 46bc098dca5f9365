/**
 * `JobHost`: what a target MAY implement when its detached jobs cannot be started the usual
 * way (a start script that puts the supervisor in the background and returns). The nodes of a
 * Slurm allocation are such targets: a job step ends with its task and with its `srun`
 * client, so the supervisor runs in the foreground of a step whose `srun` client outlives this
 * program. The jobs layer does not know Slurm: it calls these methods, the Slurm layer
 * implements them.
 *
 * @module
 */

import type { ProcessResult, Target } from "../process/mod.ts";

/** The host part of a reference to a job on a node of a Slurm allocation. */
export interface SlurmJobHost {
  /** Where the job runs. */
  readonly slurm: {
    /** The allocation's job id. */
    readonly jobId: string;
    /** The node's name. */
    readonly node: string;
    /** CPUs of the allocation on the node (given to each step), or null. */
    readonly cpus: number | null;
    /** Environment of the Slurm commands (e.g. `SLURM_CONF`). */
    readonly env: Readonly<Record<string, string>>;
    /**
     * The absolute folder, on the machine that started the job, that holds the log of the
     * job's local `srun` client (`ID.log`).
     */
    readonly clients: string;
  };
}

/** A target that starts detached jobs itself (see the module documentation). */
export interface JobHost extends Target {
  /** The host part of the references of its jobs. */
  readonly jobHost: SlurmJobHost;
  /**
   * Runs a start script (made with `foreground: true`: the supervisor stays in the
   * foreground for the job's whole life) so that it outlives this program, and returns once
   * the supervisor confirmed the start or the start ended without it. Leaves nothing behind
   * when the start did not confirm.
   *
   * @param script The start script.
   * @param id The job id.
   * @returns The start's result: its standard output holds the confirm line (or the line
   *   that says why it failed); a failure's reason carries what the transport said.
   */
  startDetached(script: string, id: string): Promise<ProcessResult>;
  /**
   * Waits until what {@linkcode JobHost.startDetached} left running on this machine for
   * these (ended) jobs has ended, ending it if it does not; with `remove`, removes its files.
   *
   * @param ids The job ids.
   * @param remove Remove the local files too.
   */
  endDetached(ids: readonly string[], remove: boolean): Promise<void>;
  /**
   * Why no job can run on this target any more (its Slurm allocation was released or has
   * ended), or null when it may still run (or it cannot be told). Asked when the status
   * script could not run there.
   *
   * @returns The reason, or null.
   */
  jobsEnded(): Promise<string | null>;
}

/**
 * Whether a target implements {@linkcode JobHost}.
 *
 * @param t The target.
 * @returns True for a job host.
 */
export function isJobHost(t: Target): t is JobHost {
  const h = t as Partial<JobHost>;
  return typeof h.startDetached === "function" && typeof h.endDetached === "function" &&
    typeof h.jobsEnded === "function" && typeof h.jobHost === "object" && h.jobHost !== null;
}
