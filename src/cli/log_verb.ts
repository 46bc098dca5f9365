/**
 * `dexp log RUN_DIR [COMBINATION] [-f]`: shows or follows a run's or a combination's log.
 *
 * @module
 */

import { LogNotFoundError, readLog } from "../engine/mod.ts";
import { guard, latestRun, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp log [options] RUN_DIR [COMBINATION]

Prints the log of a run (RUN_DIR/log.txt: events and ctx.log lines) or of one of its
combinations (by folder name, e.g. a=1_b=2: its events, ctx.log lines and the raw output of
its commands). RUN_DIR is <results>/<experiment>/<run-id>; an experiment folder means its
latest run. With -f, keeps printing what is appended until the run (or the combination) has
finished, or Ctrl-C; a combination that has not started yet is waited for.

Options:
  -f, --follow    Follow the log as it grows
  -h, --help      Show this help

Exit status: 0, or 2 for bad usage or a missing log.`;

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("log", args, {
    follow: { type: "boolean", short: "f" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(
      `Expected RUN_DIR and at most one combination: received ${positionals.length} arguments`,
    );
  }
  const [given, combo] = positionals;
  const runDir = await latestRun(given);
  const ac = new AbortController();
  const stop = () => ac.abort();
  if (v.follow) Deno.addSignalListener("SIGINT", stop);
  try {
    const chunks = readLog(runDir, {
      combination: combo,
      follow: v.follow === true,
      signal: ac.signal,
      onWaiting: () => console.error(`dexp log: waiting for '${combo}' to start`),
    });
    for await (const chunk of chunks) await Deno.stdout.write(chunk);
  } catch (e) {
    if (e instanceof LogNotFoundError) throw new UsageError(e.message);
    throw e;
  } finally {
    if (v.follow) Deno.removeSignalListener("SIGINT", stop);
  }
  return 0;
}

/** The `log` verb. */
export const logVerb: Verb = {
  run: (args) => guard("log", () => run(args)),
};
