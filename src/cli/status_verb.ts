/**
 * `dexp status [RESULTS_DIR]`: the runs of a results folder and their progress.
 *
 * @module
 */

import { describeSlurmStates, listRuns, runSlurmStates, toText } from "../engine/mod.ts";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp status [options] [RESULTS_DIR]

Lists the runs in RESULTS_DIR (default ./results): experiment, run id, state, combinations
done / failed / left, start. A run is 'running' only while one of its runners lives (same
host: its pid exists with its start time; other hosts: the lease of one of its claims is
valid); a run recorded as running whose runners all died is 'interrupted' (finish it with
'dexp run --resume'). A run submitted with 'dexp run --slurm' also shows its array tasks'
Slurm states (one batched query per run); while tasks wait in the queue it is 'pending'.

Options:
      --json      Print the list as JSON
  -h, --help      Show this help

Exit status: 0, or 2 for bad usage.`;

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("status", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(`Expected at most one results folder: received ${positionals.length}`);
  }
  const dir = positionals[0] ?? "./results";
  const runs = await Promise.all((await listRuns(dir)).map(async (r) => {
    let slurm;
    try {
      slurm = await runSlurmStates(r.runDir);
    } catch (e) {
      // No Slurm here, or the controller does not answer: the combinations still show.
      return { ...r, slurmError: e instanceof Error ? e.message : String(e) };
    }
    if (!slurm) return r;
    const waiting = slurm.tasks.some((t) => t.outcome === "pending");
    return {
      ...r,
      ...(r.state === "interrupted" && waiting ? { state: "pending" } : {}),
      slurm,
    };
  }));
  const withSlurm = runs.some((r) => "slurm" in r || "slurmError" in r);
  if (v.json) {
    console.log(JSON.stringify(runs, null, 2));
    return 0;
  }
  if (runs.length === 0) {
    console.log(`No runs in '${dir}'`);
    return 0;
  }
  console.log(toText({
    columns: [
      "experiment",
      "run",
      "state",
      "done",
      "failed",
      "left",
      "total",
      "start",
      ...(withSlurm ? ["slurm"] : []),
    ],
    rows: runs.map((r) => ({
      experiment: r.experiment,
      run: r.runId,
      state: r.state,
      done: r.succeeded,
      failed: r.failed,
      left: r.remaining,
      total: r.total,
      start: r.start,
      ...("slurm" in r
        ? { slurm: `array ${r.slurm.arrays.join(",")}: ${describeSlurmStates(r.slurm.tasks)}` }
        : "slurmError" in r
        ? { slurm: `unknown: ${r.slurmError}` }
        : {}),
    })),
  }, withSlurm ? 80 : undefined));
  return 0;
}

/** The `status` verb. */
export const statusVerb: Verb = {
  run: (args) => guard("status", () => run(args)),
};
