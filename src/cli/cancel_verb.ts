/**
 * `dexp cancel RUN`: cancels the Slurm arrays of a run submitted with `dexp run --slurm`.
 *
 * @module
 */

import { cancelRunArrays, readSlurmJson, SLURM_JSON } from "../engine/mod.ts";
import { guard, latestRun, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp cancel [options] RUN

Cancels (scancel) every Slurm job array submitted for the run folder RUN
(<results>/<experiment>/<run-id>, or <results>/<experiment> for its latest run) by
'dexp run --slurm'. Running tasks stop their current combination, which goes back to todo:
'dexp run --slurm --continue RUN FILES' submits the rest again.

Options:
  -h, --help      Show this help

Exit status: 0 cancelled, 1 scancel failed, 2 bad usage or not a Slurm run.`;

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("cancel", args, {
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `Expected one run folder: received ${positionals.length}: e.g. 'dexp cancel results/grid'`,
    );
  }
  const runDir = await latestRun(positionals[0]);
  if (!(await readSlurmJson(runDir))) {
    throw new UsageError(
      `'${runDir}' has no ${SLURM_JSON}: it was not submitted with 'dexp run --slurm', so there is nothing to cancel`,
    );
  }
  let ids: string[];
  try {
    ids = await cancelRunArrays(runDir);
  } catch (e) {
    console.error(`dexp cancel: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  console.log(`Cancelled Slurm array${ids.length === 1 ? "" : "s"} ${ids.join(", ")} of ${runDir}`);
  return 0;
}

/** The `cancel` verb. */
export const cancelVerb: Verb = {
  run: (args) => guard("cancel", () => run(args)),
};
