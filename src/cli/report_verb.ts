/**
 * `dexp report RUN_DIR`: the table of a run; writes `results.csv` and `results.jsonl`.
 *
 * @module
 */

import { toText, writeReport } from "../engine/mod.ts";
import { guard, latestRun, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";
import { join } from "../process/mod.ts";

const HELP = `Usage: dexp report [options] RUN_DIR

Reads every combination of RUN_DIR (<results>/<experiment>/<run-id>; an experiment folder
means its latest run), prints a table (parameters as columns, then the rows each combination
added, state, attempts, duration) and writes RUN_DIR/results.csv and RUN_DIR/results.jsonl.
Every combination of the run is listed, also during the run, with its state: pending,
running (held by a live runner), done or failed. Cells stay on one line: line breaks show
as ⏎, long values are cut with ….

Options:
      --json      Print the rows as JSON instead of a table
  -h, --help      Show this help

Exit status: 0, or 2 for bad usage or a folder that is not a run.`;

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("report", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`Expected one run folder: received ${positionals.length}`);
  }
  const dir = await latestRun(positionals[0]);
  let table;
  try {
    table = await writeReport(dir);
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message);
    throw e;
  }
  if (v.json) console.log(JSON.stringify(table.rows, null, 2));
  else {
    console.log(toText(table));
    console.error(`Wrote ${join(dir, "results.csv")} and ${join(dir, "results.jsonl")}`);
  }
  return 0;
}

/** The `report` verb. */
export const reportVerb: Verb = {
  run: (args) => guard("report", () => run(args)),
};
