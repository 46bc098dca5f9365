/**
 * The `dexp` command line: a thin layer over the library.
 *
 * Run it as `deno run -A jsr:@dexp/dexp/cli --help`, or `deno task dexp --help` in this
 * repository.
 *
 * @module
 */

import { DEXP_VERSION } from "../process/mod.ts";
import type { Verb } from "./verb.ts";

/** The version of dexp (`deno.json`'s `version`; stated once, in `src/process/version.ts`). */
export const VERSION: string = DEXP_VERSION;

export type { Verb };

const verbs: Record<string, { summary: string; load: () => Promise<Verb> }> = {};

/**
 * Registers a verb. Its summary is stated here, not in its module, so that `dexp --help`
 * imports no verb: a verb's module is loaded only when that verb runs.
 *
 * @param name The verb as typed on the command line.
 * @param summary One line shown by `dexp --help`.
 * @param load Loads the verb's module.
 */
export function registerVerb(name: string, summary: string, load: () => Promise<Verb>): void {
  verbs[name] = { summary, load };
}

/**
 * Runs the `dexp` command with the given arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code: 0 success, 1 failure of the work, 2 bad usage.
 */
export async function main(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    console.log(usage());
    return verb === undefined ? 2 : 0;
  }
  if (verb === "--version" || verb === "-V") {
    console.log(`dexp ${VERSION}`);
    return 0;
  }
  const load = verbs[verb]?.load;
  if (!load) {
    console.error(`dexp: unknown verb '${verb}': run 'dexp --help' for the list of verbs`);
    return 2;
  }
  return await (await load()).run(rest);
}

function usage(): string {
  const lines = ["Usage: dexp <verb> [options]", "", "Verbs:"];
  for (const [name, { summary }] of Object.entries(verbs)) {
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push("", "Run 'dexp <verb> --help' for a verb's options.");
  return lines.join("\n");
}

registerVerb(
  "sweep",
  "Show the status of a ParamSweeper directory, or reset it",
  async () => (await import("./sweep_verb.ts")).sweepVerb,
);
registerVerb(
  "run",
  "Run the experiments of files and folders (results, resume, restarts, progress)",
  async () => (await import("./run_verb.ts")).runVerb,
);
registerVerb(
  "status",
  "List the runs of a results folder and their progress",
  async () => (await import("./status_verb.ts")).statusVerb,
);
registerVerb(
  "report",
  "Print a run's results table and write results.csv and results.jsonl",
  async () => (await import("./report_verb.ts")).reportVerb,
);
registerVerb(
  "log",
  "Show or follow the log of a run or of one combination (-f)",
  async () => (await import("./log_verb.ts")).logVerb,
);
registerVerb(
  "hosts",
  "Check which hosts of a host file are reachable over ssh, and why not",
  async () => (await import("./hosts_verb.ts")).hostsVerb,
);
registerVerb(
  "cancel",
  "Cancel the Slurm arrays of a run submitted with 'dexp run --slurm'",
  async () => (await import("./cancel_verb.ts")).cancelVerb,
);
registerVerb(
  "jobs",
  "List, follow, kill and forget detached jobs on hosts",
  async () => (await import("./jobs_verb.ts")).jobsVerb,
);
registerVerb(
  "pool",
  "Make a pool directory (machines in classes, a job queue), define classes; serve it",
  async () => (await import("./pool_verb.ts")).poolVerb,
);
registerVerb(
  "machine",
  "Add, list, set up, remove, quarantine and release the machines of a pool",
  async () => (await import("./machine_verb.ts")).machineVerb,
);
registerVerb(
  "job",
  "Queue jobs and matrices on a pool; list, log, hold, cancel, retry them; results as CSV",
  async () => (await import("./job_verb.ts")).jobVerb,
);
registerVerb(
  "connections",
  "List or close the ssh connections kept open by programs with 'persist'",
  async () => (await import("./connections_verb.ts")).connectionsVerb,
);

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
