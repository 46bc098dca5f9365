/**
 * `dexp log RUN_DIR [COMBINATION] [-f]`: shows or follows a run's or a combination's log.
 *
 * @module
 */

import { join } from "node:path";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./main.ts";

const HELP = `Usage: dexp log [options] RUN_DIR [COMBINATION]

Prints the log of a run (RUN_DIR/log.txt: events and ctx.log lines) or of one of its
combinations (by folder name, e.g. a=1_b=2: its events, ctx.log lines and the raw output of
its commands). With -f, keeps printing what is appended until the run (or the combination)
has finished, or Ctrl-C.

Options:
  -f, --follow    Follow the log as it grows
  -h, --help      Show this help

Exit status: 0, or 2 for bad usage or a missing log.`;

async function finished(runDir: string, combo: string | undefined): Promise<boolean> {
  try {
    if (combo) {
      await Deno.stat(join(runDir, combo, "result.json"));
      return true;
    }
    const rj = JSON.parse(await Deno.readTextFile(join(runDir, "run.json")));
    return rj.state !== "running";
  } catch {
    return false;
  }
}

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
  const [runDir, combo] = positionals;
  const path = combo ? join(runDir, combo, "log.txt") : join(runDir, "log.txt");
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        combo
          ? `No log for combination '${combo}' in '${runDir}': run 'dexp report ${runDir}' to see the combinations`
          : `No run log in '${runDir}': give <results>/<experiment>/<run-id>`,
      );
    }
    throw e;
  }
  using f = file;
  const buf = new Uint8Array(64 * 1024);
  const ac = new AbortController();
  const stop = () => ac.abort();
  if (v.follow) Deno.addSignalListener("SIGINT", stop);
  try {
    for (;;) {
      const n = await f.read(buf);
      if (n !== null && n > 0) {
        await Deno.stdout.write(buf.subarray(0, n));
        continue;
      }
      if (!v.follow || ac.signal.aborted) break;
      if (await finished(runDir, combo)) {
        // Drain what was written before the end was recorded.
        let m: number | null;
        while ((m = await f.read(buf)) !== null && m > 0) {
          await Deno.stdout.write(buf.subarray(0, m));
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    if (v.follow) Deno.removeSignalListener("SIGINT", stop);
  }
  return 0;
}

/** The `log` verb. */
export const logVerb: Verb = {
  summary: "Show or follow the log of a run or of one combination (-f)",
  run: (args) => guard("log", () => run(args)),
};
