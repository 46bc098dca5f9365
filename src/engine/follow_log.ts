/**
 * Reading and following the log of a run or of one combination until it has finished: what
 * `dexp log [-f]` prints, as a library function.
 *
 * @module
 */

import { type Duration, join, toMillis } from "../process/mod.ts";
import type { RunJson } from "./runner.ts";
import { LOG_TXT, RESULT_JSON, RUN_JSON } from "./rundir.ts";
import { runLiveness } from "./status.ts";

/** The log asked for does not exist (and will not appear). *
 * @example
 * ```ts
 * import { LogNotFoundError, readLog } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * const empty = await Deno.makeTempDir();
 * await rejects(readLog(empty).next(), LogNotFoundError);
 * await Deno.remove(empty);
 * ```
 */
export class LogNotFoundError extends Error {
  /**
   * Makes the error.
   *
   * @param message Which log, and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "LogNotFoundError";
  }
}

/** Options of {@linkcode readLog}. */
export interface ReadLogOptions {
  /** A combination's folder name (e.g. `a=1_b=2`); default: the run's own log. */
  combination?: string;
  /**
   * Keep reading what is appended until the run (or the combination) has finished; a
   * combination that has not started yet is waited for. Default false: what is there now.
   */
  follow?: boolean;
  /** Stops following (the generator then ends). */
  signal?: AbortSignal;
  /** How often to look for more: ms or text like `"1s"` (default 200 ms). */
  interval?: Duration;
  /** Called once when following waits for a combination that has not started yet. */
  onWaiting?: () => void;
}

async function readRunJson(runDir: string): Promise<RunJson | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(runDir, RUN_JSON)));
  } catch {
    return undefined;
  }
}

/**
 * Whether a run has ended: false while it has a live runner; a run recorded as running
 * whose runners all died has ended too (nothing more will be written).
 *
 * @param runDir The run folder.
 * @returns True when nothing more will be written to it.
 *
 * @example
 * ```ts
 * import { defineExperiment, readLog, resolveRunDir, runEnded, runExperiments } from "@dexp/dexp";
 * import { ok } from "node:assert";
 * import { join } from "node:path";
 *
 * const results = await Deno.makeTempDir();
 * const e = defineExperiment("logged", { params: { n: [1] } }, async (ctx) => {
 *   await ctx.log("hello from the body");
 * });
 * await runExperiments([e], { results, display: "none" });
 * const run = await resolveRunDir(join(results, "logged")); // the latest run
 * ok(await runEnded(run));
 * let text = "";
 * for await (const chunk of readLog(run, { combination: "n=1" })) {
 *   text += new TextDecoder().decode(chunk);
 * }
 * ok(text.includes("hello from the body"));
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export async function runEnded(runDir: string): Promise<boolean> {
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

async function openLog(
  runDir: string,
  combo: string | undefined,
  o: ReadLogOptions,
  interval: number,
): Promise<Deno.FsFile | undefined> {
  const path = join(runDir, ...(combo ? [combo] : []), LOG_TXT);
  const missing = () =>
    new LogNotFoundError(
      combo
        ? `No log for combination '${combo}' in '${runDir}': run 'dexp report ${runDir}' to see the combinations`
        : `No run log in '${runDir}': give <results>/<experiment>/<run-id>`,
    );
  if (o.follow && combo) {
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
    if (!o.follow || !combo || await runEnded(runDir)) {
      // Created between the two looks: the run just wrote it.
      try {
        return await Deno.open(path);
      } catch {
        throw missing();
      }
    }
    if (polls === 0) o.onWaiting?.();
    if (o.signal?.aborted) return undefined;
    await sleep(interval, o.signal);
  }
}

/**
 * The bytes of a run's log (`<run>/log.txt`) or of one combination's, chunk by chunk; with
 * `follow`, what is appended too, until the run or the combination has finished (then what
 * was written before the end is drained) or `signal` aborts.
 *
 * @param runDir The run folder (see `resolveRunDir` for an experiment folder).
 * @param options Which log, whether to follow, how to stop.
 * @returns The chunks, in order.
 * @throws {LogNotFoundError} If the log does not exist (and, when following a combination,
 *   will not: the run has ended or has no such combination).
 *
 * @example
 * ```ts ignore
 * import { readLog, resolveRunDir } from "@dexp/dexp";
 * const run = await resolveRunDir("results/train");
 * for await (const chunk of readLog(run, { follow: true })) await Deno.stdout.write(chunk);
 * ```
 */
export async function* readLog(
  runDir: string,
  options: ReadLogOptions = {},
): AsyncGenerator<Uint8Array> {
  const combo = options.combination;
  const interval = toMillis(options.interval ?? 200, "interval");
  const file = await openLog(runDir, combo, options, interval);
  if (!file) return;
  using f = file;
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await f.read(buf);
    if (n !== null && n > 0) {
      yield buf.slice(0, n);
      continue;
    }
    if (!options.follow || options.signal?.aborted) return;
    if (await finished(runDir, combo)) {
      // Drain what was written before the end was recorded.
      let m: number | null;
      while ((m = await f.read(buf)) !== null && m > 0) yield buf.slice(0, m);
      return;
    }
    await sleep(interval, options.signal);
  }
}
