/**
 * `dexp log RUN_DIR [COMBINATION] [-f]`: shows or follows a run's or a combination's log.
 *
 * @module
 */

import { join } from "node:path";
import { LOG_TXT, RESULT_JSON, RUN_JSON, type RunJson, runLiveness } from "../engine/mod.ts";
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

async function readRunJson(runDir: string): Promise<RunJson | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(runDir, RUN_JSON)));
  } catch {
    return undefined;
  }
}

// False while the run has a live runner; a run recorded as running whose runners all died
// has ended too (nothing more will be written).
async function runEnded(runDir: string): Promise<boolean> {
  const rj = await readRunJson(runDir);
  if (!rj) return false;
  return (await runLiveness(runDir, rj)).state !== "running";
}

async function finished(runDir: string, combo: string | undefined): Promise<boolean> {
  if (combo) {
    try {
      await Deno.stat(join(runDir, combo, RESULT_JSON));
      return true;
    } catch { /* not finished */ }
  }
  return await runEnded(runDir);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Opens the log; with `follow`, waits for the log of a combination that has not started.
async function openLog(
  runDir: string,
  combo: string | undefined,
  follow: boolean,
  signal: AbortSignal,
): Promise<Deno.FsFile | undefined> {
  const path = join(runDir, ...(combo ? [combo] : []), LOG_TXT);
  const missing = () =>
    new UsageError(
      combo
        ? `No log for combination '${combo}' in '${runDir}': run 'dexp report ${runDir}' to see the combinations`
        : `No run log in '${runDir}': give <results>/<experiment>/<run-id>`,
    );
  if (follow && combo) {
    const rj = await readRunJson(runDir);
    const names = rj?.combinations.map((c) => c.name) ?? [];
    if (names.length > 0 && !names.includes(combo)) throw missing();
  }
  for (let polls = 0;; polls++) {
    try {
      return await Deno.open(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (!follow || !combo || await runEnded(runDir)) {
      // Created between the two looks: the run just wrote it.
      try {
        return await Deno.open(path);
      } catch {
        throw missing();
      }
    }
    if (polls === 0) console.error(`dexp log: waiting for '${combo}' to start`);
    if (signal.aborted) return undefined;
    await sleep(200);
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
  const [given, combo] = positionals;
  const runDir = await latestRun(given);
  const buf = new Uint8Array(64 * 1024);
  const ac = new AbortController();
  const stop = () => ac.abort();
  if (v.follow) Deno.addSignalListener("SIGINT", stop);
  try {
    const file = await openLog(runDir, combo, v.follow === true, ac.signal);
    if (!file) return 0;
    using f = file;
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
      await sleep(200);
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
