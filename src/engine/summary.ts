/**
 * What a run returns: the summary of `runExperiments()` and of each experiment in it.
 * Its own module, so that the runner and what reports on a run (notify) both import it and
 * neither imports the other.
 *
 * @module
 */

import type { CommandFailure } from "./failures.ts";

/** What happened to one experiment in a run. */
export interface ExperimentSummary {
  /** The experiment. */
  experiment: string;
  /** The run id. */
  runId: string;
  /** The run folder. */
  runDir: string;
  /** Number of combinations. */
  total: number;
  /** Combinations that succeeded (in this run folder, by any process). */
  succeeded: number;
  /** Combinations that failed. */
  failed: number;
  /** Combinations not finished. */
  remaining: number;
  /** Combinations this process ran to an outcome. */
  ranHere: number;
  /** The failed combinations and their errors (with every failed command, if any). */
  failures: { name: string; error: string; failures?: CommandFailure[] }[];
  /** True if the run was interrupted. */
  interrupted: boolean;
  /** The job id of the Slurm array submitted for the run (`slurm` option), if one was. */
  slurmArray?: string;
}

/** What `runExperiments()` returns. */
export interface RunExperimentsSummary {
  /** True if nothing failed and the run was not interrupted. */
  ok: boolean;
  /** True if the run was interrupted (`options.signal`). */
  interrupted: boolean;
  /** One entry per experiment run, in run order. */
  experiments: ExperimentSummary[];
  /** Start (ISO 8601). */
  start: string;
  /** End (ISO 8601). */
  end: string;
}
