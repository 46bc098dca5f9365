/**
 * `runExperiments()`: runs experiments over their parameter combinations, with result
 * folders, a crash-safe checkpoint (resume), restarts, logs, progress and notification.
 *
 * @module
 */

import { holdPoolSlots, type PoolPlace, poolPlaces } from "./pool_places.ts";
import { type Group, Hosts } from "../action/mod.ts";
import {
  basename,
  DEXP_VERSION,
  dirname,
  type Duration,
  join,
  type LineInfo,
  resolve,
  toMillis,
} from "../process/mod.ts";
import { type ClaimStore, openStore } from "./_claims.ts";
import { type Combination, currentOwner } from "./_sweep.ts";
import { readJsonMaybe, writeJsonAtomic } from "./atomic.ts";
import {
  AttemptStoppedError,
  type DetachedResult,
  ExperimentContext,
  RestartRequest,
} from "./context.ts";
import { readJobsFile, settleEntries, writeJobsFile } from "./detached.ts";
import { attachJobs } from "../slurm/mod.ts";
import {
  type ComboOutcome,
  describeDetails,
  describeEvent,
  type RunEvent,
  type RunListener,
} from "./events.ts";
import { LogFile, logOutput, makeLogger, stamp } from "./log.ts";
import { notify } from "./notify.ts";
import type { ExperimentSummary, RunExperimentsSummary } from "./summary.ts";
import { TerminalProgress } from "./progress.ts";
import { type CommandFailure, type ErrorDetail, errorDetail } from "./failures.ts";
import { clearOwners, readOwners, recordOwner, takeBack } from "./owners.ts";
import { type Experiment, registeredExperiments } from "./registry.ts";
import {
  chooseRunDir,
  comboFolderName,
  LOG_TXT,
  RESULT_JSON,
  RESULT_PENDING_JSON,
  ROWS_JSONL,
  RUN_JSON,
  SWEEP_DIR,
} from "./rundir.ts";
import {
  SLURM_RUN_DIR_ENV,
  type SlurmRunOptions,
  slurmTaskEnding,
  slurmTaskJob,
  submitRunArray,
} from "./slurm_run.ts";

/** How a run shows itself on the console. */
export type Display = "auto" | "progress" | "plain" | "none";

/** Options of {@linkcode runExperiments}. */
export interface RunExperimentsOptions {
  /** The results folder (default `./results`). */
  results?: string;
  /** Combinations of one experiment run at once (default 1). */
  parallel?: number;
  /** Continue the latest run of each experiment instead of starting new ones. */
  resume?: boolean;
  /** Continue this run folder (`<results>/<experiment>/<run-id>`); only its experiment runs. */
  continueDir?: string;
  /** Keep experiments whose name matches one of these globs (`*`, `?`) or that have one as a tag. */
  filter?: readonly string[];
  /**
   * Console output: `auto` (default) shows a live display on a terminal and plain log lines
   * otherwise, `progress`, `plain`, or `none`.
   */
  display?: Display;
  /** Also append every log line to this file. */
  logFile?: string;
  /** POST a JSON summary (Slack-compatible) to this URL when the run ends. */
  notify?: string;
  /** Stops the run: running combinations are stopped and go back to todo. */
  signal?: AbortSignal;
  /** Receive every event of the run. */
  listeners?: readonly RunListener[];
  /**
   * Time given to an experiment body to return after its attempt was stopped (ms or text
   * like `"10s"`, default 5 s). The attempt's commands are ended at once; a body that has not returned by then is
   * left behind, logged, and can never start commands or write again; the next attempt starts.
   */
  stopGrace?: Duration;
  /**
   * Submit the run to Slurm instead of running it here: the run folder is prepared, one job
   * array of worker tasks is submitted (each continues the folder, claiming combinations
   * from its shared sweep), recorded in `<run>/slurm.json`, and `runExperiments()` returns
   * at once (`summary.experiments[i].slurmArray`). With `continueDir`, a new array is
   * submitted for that folder. Inside a task (`DEXP_SLURM_RUN_DIR` set) it runs as a worker.
   */
  slurm?: SlurmRunOptions;
}

/** The outcome of one combination in a run. */
export interface CombinationRecord {
  /** The experiment. */
  experiment: string;
  /** The combination's folder name. */
  name: string;
  /** Its parameters. */
  params: Combination;
  /** How it ended. */
  outcome: ComboOutcome;
  /** How many attempts were made. */
  attempts: number;
  /** Start of the first attempt (ISO 8601). */
  start: string;
  /** End of the last attempt (ISO 8601). */
  end: string;
  /** Duration from the start of the first attempt to the end of the last, in ms. */
  duration: number;
  /** The error of the last attempt, if it failed: one line naming failed hosts and why. */
  error?: string;
  /** Every failed command of the last attempt, when commands failed. */
  failures?: CommandFailure[];
  /** The detached jobs of the last attempt (`ctx.detach()`), if it started any. */
  jobs?: DetachedResult[];
  /** The host that ran it. */
  host: string;
  /** The process id of the runner. */
  pid: number;
}

/** The content of `run.json`. */
export interface RunJson {
  /** Format version. */
  format: 1;
  /** The experiment. */
  experiment: string;
  /** The run id. */
  runId: string;
  /** Tags of the experiment. */
  tags: string[];
  /** Versions of dexp, Deno, V8, TypeScript. */
  versions: { dexp: string; deno: string; v8: string; typescript: string };
  /** OS and architecture. */
  platform: { os: string; arch: string };
  /** `running`, `finished`, `interrupted`. */
  state: "running" | "finished" | "interrupted";
  /** First start (ISO 8601). */
  start: string;
  /** Last end, if finished or interrupted. */
  end?: string;
  /** The hosts of the experiment (labels). */
  hosts: string[];
  /**
   * Every process that worked on the run; `boot` (kernel boot id) and `ticks` (process start
   * time) tell whether it still lives, as for a sweep's claim owner.
   */
  runners: { host: string; pid: number; start: string; boot?: string; ticks?: number }[];
  /** Number of combinations. */
  total: number;
  /** Counts by outcome. */
  counts: { succeeded: number; failed: number; remaining: number };
  /** Per combination, in sweep order (written when a runner ends). */
  combinations: {
    name: string;
    params: Combination;
    outcome: ComboOutcome | "pending";
    attempts?: number;
    duration?: number;
    error?: string;
    failures?: CommandFailure[];
  }[];
}

/** A combination as planned (for `--dry-run`). */
export interface PlannedCombination {
  /** The experiment. */
  experiment: string;
  /** The combination's folder name, e.g. `a=1_b=2`. */
  name: string;
  /** distexprunner-style full name, e.g. `grid__a=1_b=2` (just `grid` without parameters). */
  id: string;
  /** The parameters. */
  params: Combination;
  /** Tags of the experiment. */
  tags: readonly string[];
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${esc}$`);
}

/**
 * The experiments that a filter keeps: by name (glob with `*` and `?`) or by tag.
 *
 * @param experiments The experiments.
 * @param filter Globs or tags; empty or undefined keeps everything.
 * @returns The kept experiments, in order.
 * @example
 * ```ts
 * import { defineExperiment, filterExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const a = defineExperiment("net-a", { tags: ["net"] }, () => {});
 * const b = defineExperiment("cpu-b", {}, () => {});
 * deepStrictEqual(filterExperiments([a, b], ["net"]).map((e) => e.name), ["net-a"]);
 * ```
 */
export function filterExperiments<E extends Experiment>(
  experiments: readonly E[],
  filter: readonly string[] | undefined,
): E[] {
  if (!filter || filter.length === 0) return [...experiments];
  const res = filter.map(globToRegExp);
  return experiments.filter((e) =>
    filter.some((f, i) => res[i].test(e.name) || e.tags.includes(f))
  );
}

function combosOf(e: Experiment): { combos: Combination[]; names: string[] } {
  const combos = [...e.params];
  const names = combos.map((c) => comboFolderName(c));
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const j = seen.get(n);
    if (j !== undefined) {
      throw new TypeError(
        `Experiment '${e.name}' has the same combination twice: '${n}' (numbers ${j} and ${i}): remove the duplicate`,
      );
    }
    seen.set(n, i);
  });
  return { combos, names };
}

/**
 * Lists what a run would do, without running anything.
 *
 * @param experiments The experiments (default: the registered ones).
 * @param options The filter.
 * @returns Every combination, in run order.
 * @throws {TypeError} If an experiment has a combination twice.
 * @example
 * ```ts
 * import { defineExperiment, planExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const e = defineExperiment("grid", { params: { a: [1, 2], b: [3] } }, () => {});
 * deepStrictEqual(planExperiments([e]).map((p) => p.id), ["grid__a=1_b=3", "grid__a=2_b=3"]);
 * ```
 */
export function planExperiments(
  experiments: readonly Experiment[] = registeredExperiments(),
  options: Pick<RunExperimentsOptions, "filter"> = {},
): PlannedCombination[] {
  const out: PlannedCombination[] = [];
  for (const e of filterExperiments(experiments, options.filter)) {
    const { combos, names } = combosOf(e);
    combos.forEach((c, i) =>
      out.push({
        experiment: e.name,
        name: names[i],
        id: Object.keys(c).length === 0 ? e.name : `${e.name}__${names[i]}`,
        params: c,
        tags: e.tags,
      })
    );
  }
  return out;
}

class Output {
  #listeners: RunListener[];
  #logs: LogFile[];
  #progress: TerminalProgress | undefined;
  #plain: boolean;

  constructor(options: RunExperimentsOptions) {
    this.#listeners = [...(options.listeners ?? [])];
    this.#logs = [];
    if (options.logFile) {
      Deno.mkdirSync(dirname(resolve(options.logFile)), { recursive: true });
      this.#logs.push(new LogFile(options.logFile));
    }
    let display = options.display ?? "auto";
    if (display === "auto") display = Deno.stderr.isTerminal() ? "progress" : "plain";
    if (display === "progress") this.#progress = new TerminalProgress();
    this.#plain = display === "plain";
  }

  addLog(log: LogFile): void {
    this.#logs.push(log);
  }

  removeLog(log: LogFile): void {
    this.#logs = this.#logs.filter((l) => l !== log);
  }

  emit(e: RunEvent): void {
    const line = describeEvent(e);
    if (line !== undefined) {
      const stamped = `${stamp(e.at)} ${line}`;
      const who = "name" in e ? `[${e.name}] ` : "";
      const details = describeDetails(e).map((d) => `${stamp(e.at)} ${who}${d}`);
      for (const l of this.#logs) for (const x of [stamped, ...details]) l.write(x);
      if (this.#plain) console.log(line);
    }
    if (this.#progress) {
      const show = e.type !== "output" && e.type !== "combo-start" &&
        !(e.type === "combo-end" && e.outcome === "ok");
      this.#progress.event(e, show ? line : undefined);
    }
    for (const l of this.#listeners) l(e);
  }

  close(): void {
    this.#progress?.close();
    for (const l of this.#logs) l.close();
  }
}

function errorText(err: unknown): string {
  return errorDetail(err).error;
}

const STOPPED = Symbol("stopped");

type CrashPoint = { point: string; n: number } | undefined;

// Test hook, inert unless DEXP_TEST_CRASH_AT is set (`point` or `point:N`, the Nth time):
// the runner SIGKILLs itself there, so tests can check what a crash at that instant leaves.
const CRASH_AT: CrashPoint = (() => {
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "DEXP_TEST_CRASH_AT" });
    if (q.state !== "granted") return undefined;
    const v = Deno.env.get("DEXP_TEST_CRASH_AT");
    if (!v) return undefined;
    const [point, n] = v.split(":");
    return { point, n: n === undefined ? 1 : Number(n) };
  } catch {
    return undefined;
  }
})();
const crashCounts = new Map<string, number>();

function crashPoint(point: string): void {
  if (CRASH_AT === undefined || CRASH_AT.point !== point) return;
  const n = (crashCounts.get(point) ?? 0) + 1;
  crashCounts.set(point, n);
  if (n === CRASH_AT.n) Deno.kill(Deno.pid, "SIGKILL");
}

/**
 * Finishes what a crashed runner left between its two writes: a pending result whose
 * combination the checkpoint records as finished is put in place; one whose combination is
 * back to todo is stale and removed (the combination runs again).
 */
async function rollForward(run: ExperimentRun): Promise<void> {
  for (let i = 0; i < run.names.length; i += 64) {
    await Promise.all(
      run.names.slice(i, i + 64).map(async (n, j) => {
        const pending = join(run.runDir, n, RESULT_PENDING_JSON);
        try {
          await Deno.lstat(pending);
        } catch {
          return;
        }
        const state = await run.store.state(run.combos[i + j]);
        if (state === "todo") await Deno.remove(pending).catch(() => {});
        else if (state !== "inProgress") {
          await Deno.rename(pending, join(run.runDir, n, RESULT_JSON)).catch(() => {});
        }
      }),
    );
  }
}

interface ExperimentRun {
  e: Experiment;
  hosts: Group;
  /** With `pool`: the slots, one per worker. */
  places: PoolPlace[] | null;
  runId: string;
  runDir: string;
  combos: Combination[];
  names: string[];
  store: ClaimStore;
  log: LogFile;
  ranHere: number;
}

/**
 * Runs experiments over their parameter combinations, one experiment after the other (in
 * the order given), each combination in `<results>/<experiment>/<run-id>/<combination>/`.
 * Failed combinations are retried up to `maxRestarts` times, then recorded as failed, and
 * the run goes on. With `resume`, combinations already finished in the latest run are not
 * run again, and several processes (on several machines sharing the results folder) split
 * the remaining ones.
 *
 * @param experiments The experiments (default: every registered one).
 * @param options Results folder, parallelism, resume, filter, display, log, notification.
 * @returns The summary; `ok` is false if anything failed or the run was interrupted.
 * @throws {TypeError} If an experiment has a combination twice, or `continueDir` is not a run.
 * @throws {RangeError} If `parallel` is not a positive integer.
 * @example
 * ```ts ignore
 * import { experiment, runExperiments } from "@dexp/dexp";
 * const grid = experiment("grid", { params: { a: [1, 2], b: [3, 4] } }, async (ctx, p) => {
 *   await ctx.spawn(`echo ${p.a} ${p.b}`);
 * });
 * const summary = await runExperiments([grid], { results: "./results" });
 * Deno.exit(summary.ok ? 0 : 1);
 * ```
 */
export async function runExperiments(
  experiments: readonly Experiment[] = registeredExperiments(),
  options: RunExperimentsOptions = {},
): Promise<RunExperimentsSummary> {
  const parallel = options.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel <= 0) {
    throw new RangeError(`'parallel' must be a positive integer: received ${parallel}`);
  }
  const results = options.results ?? "./results";
  const task = options.slurm ? slurmTaskDir() : undefined;
  if (task !== undefined) return await runSlurmTask(experiments, options, task);
  let list = filterExperiments(experiments, options.filter);
  let continueTo: { runDir: string; runId: string } | undefined;
  if (options.continueDir !== undefined) {
    const runDir = resolve(options.continueDir);
    const rj = await readJsonMaybe<RunJson>(join(runDir, RUN_JSON));
    if (!rj) {
      throw new TypeError(
        `Cannot continue '${options.continueDir}': it has no readable ${RUN_JSON}: give a folder <results>/<experiment>/<run-id>`,
      );
    }
    list = list.filter((e) => e.name === rj.experiment);
    if (list.length === 0) {
      throw new TypeError(
        `Cannot continue '${options.continueDir}': experiment '${rj.experiment}' is not loaded: pass the file that defines it`,
      );
    }
    continueTo = { runDir, runId: basename(runDir) };
  }
  for (const e of list) combosOf(e); // fail before anything runs
  const groups = new Map(list.map((e) => [e, makeHosts(e)]));
  const start = new Date();
  const out = new Output(options);
  const summaries: ExperimentSummary[] = [];
  const signal = options.signal ?? new AbortController().signal;
  try {
    for (const e of list) {
      if (signal.aborted) break;
      summaries.push(
        await runOne(e, groups.get(e)!, options, results, continueTo, parallel, out, signal),
      );
    }
  } finally {
    out.close();
  }
  const interrupted = signal.aborted;
  const summary: RunExperimentsSummary = {
    // Combinations still held by other processes (shared --resume) are not failures here.
    ok: !interrupted && summaries.every((s) => s.failed === 0),
    interrupted,
    experiments: summaries,
    start: start.toISOString(),
    end: new Date().toISOString(),
  };
  if (options.notify) {
    try {
      await notify(options.notify, summary);
    } catch (err) {
      console.error(`dexp: could not notify '${options.notify}': ${errorText(err)}`);
    }
  }
  return summary;
}

// The run folder of a Slurm worker task (DEXP_SLURM_RUN_DIR), if this process is one.
function slurmTaskDir(): string | undefined {
  try {
    return Deno.env.get(SLURM_RUN_DIR_ENV) || undefined;
  } catch {
    return undefined;
  }
}

// A worker task of a submitted array: continues its run folder; SIGUSR1 (sent before the
// time limit) and SIGTERM (scancel, requeue) stop the current combination cleanly, so that
// it goes back to todo for another task.
async function runSlurmTask(
  experiments: readonly Experiment[],
  options: RunExperimentsOptions,
  runDir: string,
): Promise<RunExperimentsSummary> {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error("the Slurm task was signalled"));
  options.signal?.addEventListener("abort", stop, { once: true });
  const signals: Deno.Signal[] = ["SIGUSR1", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    const { slurm: _, ...rest } = options;
    return await runExperiments(experiments, { ...rest, continueDir: runDir, signal: ac.signal });
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    options.signal?.removeEventListener("abort", stop);
  }
}

// The hosts of an experiment, made before anything runs: a hosts() function that throws is
// an error of the experiment file, reported with the experiment's name.
function makeHosts(e: Experiment): Group {
  let hosts: unknown;
  try {
    hosts = typeof e.hosts === "function" ? e.hosts() : e.hosts;
  } catch (err) {
    throw new TypeError(
      `'hosts' of experiment '${e.name}' threw: ${errorText(err)}: fix the hosts function`,
      { cause: err },
    );
  }
  const targets = (hosts as { targets?: unknown } | null | undefined)?.targets;
  if (!Array.isArray(targets)) {
    throw new TypeError(
      `'hosts' of experiment '${e.name}' must be a group of hosts, e.g. hosts("n1", "n2"): received ${
        hosts instanceof Promise ? "a promise (hosts() must not be async)" : typeof hosts
      }`,
    );
  }
  return hosts as Group;
}

async function runOne(
  e: Experiment,
  hosts: Group,
  options: RunExperimentsOptions,
  results: string,
  continueTo: { runDir: string; runId: string } | undefined,
  parallel: number,
  out: Output,
  signal: AbortSignal,
): Promise<ExperimentSummary> {
  const { combos, names } = combosOf(e);
  // On a pool: its class and ready machines are checked, and its slots taken (no dispatcher
  // may serve the pool meanwhile), before a run folder is made.
  const places = e.pool ? await poolPlaces(e.pool, e.name) : null;
  await using _slots = e.pool ? await holdPoolSlots(e.pool, e.name) : null;
  const where = continueTo
    ? { ...continueTo, existed: true }
    : await chooseRunDir(results, e.name, options.resume ?? false);
  const { runId, runDir } = where;
  const log = new LogFile(join(runDir, LOG_TXT));
  out.addLog(log);
  if (places) {
    hosts = new Hosts([...new Set(places.map((p) => p.host))]);
    parallel = places.length;
  }
  // A Slurm worker task names its job in its claims: requeued, it takes them back at once.
  const job = continueTo && slurmTaskDir() === continueTo.runDir ? slurmTaskJob() : undefined;
  const store = await openStore(join(runDir, SWEEP_DIR), combos, { job });
  const run: ExperimentRun = {
    e,
    hosts,
    places,
    runId,
    runDir,
    combos,
    names,
    store,
    log,
    ranHere: 0,
  };
  const nowIso = new Date().toISOString();
  try {
    const owner = currentOwner();
    const me = {
      host: Deno.hostname(),
      pid: Deno.pid,
      start: nowIso,
      boot: owner.boot,
      ticks: owner.start,
    };
    const before = await store.stats();
    // run.json is read, changed and written under a lock: several runners may share the run.
    await withRunLock(runDir, async () => {
      const prev = await readJsonMaybe<RunJson>(join(runDir, RUN_JSON));
      await writeJsonAtomic(
        join(runDir, RUN_JSON),
        {
          ...runJsonBase(run, prev, me),
          state: "running",
          counts: {
            succeeded: before.done,
            failed: before.failed,
            remaining: before.total - before.done - before.failed,
          },
          // Every combination from the start, with its parameters, so that 'dexp report' lists
          // those not started yet.
          combinations: startCombinations(run, prev),
        } satisfies RunJson,
      );
    });
    await rollForward(run);
    out.emit({
      type: "experiment-start",
      at: Date.now(),
      experiment: e.name,
      runDir,
      total: combos.length,
      finished: before.done + before.failed,
      workers: parallel,
    });
    const stopGraceMs = toMillis(options.stopGrace ?? 5000, "stopGrace");
    await Promise.all(
      Array.from(
        // Submitting to Slurm: the folder is prepared here, the tasks do the work.
        { length: options.slurm ? 0 : parallel },
        (_, w) => worker(run, w, out, signal, stopGraceMs),
      ),
    );
    const interrupted = signal.aborted;
    const end = await withRunLock(runDir, async () => {
      const records = await readRecords(run);
      const ok = records.filter((r) => r?.outcome === "ok").length;
      const failedRecs = records.filter((r): r is CombinationRecord => r?.outcome === "failed");
      const remaining = combos.length - ok - failedRecs.length;
      const event: RunEvent = {
        type: "experiment-end",
        at: Date.now(),
        experiment: e.name,
        succeeded: ok,
        failed: failedRecs.length,
        remaining,
        interrupted,
      };
      // The run's log gets its last line before run.json says the run has ended, so that
      // 'dexp log -f', which stops at that moment, has printed it.
      log.write(`${stamp(event.at)} ${describeEvent(event)}`);
      out.removeLog(log);
      const latest = await readJsonMaybe<RunJson>(join(runDir, RUN_JSON));
      await writeJsonAtomic(
        join(runDir, RUN_JSON),
        {
          ...runJsonBase(run, latest, undefined),
          state: remaining === 0 ? "finished" : interrupted ? "interrupted" : "running",
          end: new Date().toISOString(),
          counts: { succeeded: ok, failed: failedRecs.length, remaining },
          combinations: combos.map((c, i) => {
            const r = records[i];
            return r
              ? {
                name: names[i],
                params: c,
                outcome: r.outcome,
                attempts: r.attempts,
                duration: r.duration,
                ...(r.error !== undefined ? { error: r.error } : {}),
                ...(r.failures !== undefined ? { failures: r.failures } : {}),
              }
              : { name: names[i], params: c, outcome: "pending" as const };
          }),
        } satisfies RunJson,
      );
      return { ok, failedRecs, remaining, event };
    });
    const { ok, failedRecs, remaining } = end;
    out.emit(end.event);
    const array = options.slurm && remaining > 0
      ? (await submitRunArray(runDir, options.slurm)).jobId
      : undefined;
    return {
      experiment: e.name,
      runId,
      runDir,
      total: combos.length,
      succeeded: ok,
      failed: failedRecs.length,
      remaining,
      ranHere: run.ranHere,
      failures: failedRecs.map((r) => ({
        name: r.name,
        error: r.error ?? "unknown error",
        ...(r.failures !== undefined ? { failures: r.failures } : {}),
      })),
      interrupted,
      ...(array !== undefined ? { slurmArray: array } : {}),
    };
  } finally {
    await store.close();
    out.removeLog(log);
    log.close();
  }
}

function startCombinations(run: ExperimentRun, prev: RunJson | undefined): RunJson["combinations"] {
  const known = new Map((prev?.combinations ?? []).map((c) => [c.name, c]));
  return run.combos.map((params, i) =>
    known.get(run.names[i]) ?? { name: run.names[i], params, outcome: "pending" as const }
  );
}

async function withRunLock<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  using lock = await Deno.open(join(runDir, ".run.lock"), { write: true, create: true });
  await lock.lock(true);
  try {
    return await fn();
  } finally {
    await lock.unlock();
  }
}

function runJsonBase(
  run: ExperimentRun,
  prev: RunJson | undefined,
  me: RunJson["runners"][number] | undefined,
): Omit<RunJson, "state" | "counts" | "combinations"> {
  return {
    format: 1,
    experiment: run.e.name,
    runId: run.runId,
    tags: [...run.e.tags],
    versions: {
      dexp: DEXP_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
    },
    platform: { os: Deno.build.os, arch: Deno.build.arch },
    start: prev?.start ?? new Date().toISOString(),
    hosts: run.hosts.targets.map((t) => t.label),
    runners: [...(prev?.runners ?? []), ...(me ? [me] : [])],
    total: run.combos.length,
  };
}

async function readRecords(run: ExperimentRun): Promise<(CombinationRecord | undefined)[]> {
  const out: (CombinationRecord | undefined)[] = [];
  for (let i = 0; i < run.names.length; i += 64) {
    const chunk = run.names.slice(i, i + 64);
    out.push(
      ...await Promise.all(
        chunk.map((n) => readJsonMaybe<CombinationRecord>(join(run.runDir, n, RESULT_JSON))),
      ),
    );
  }
  return out;
}

async function worker(
  run: ExperimentRun,
  w: number,
  out: Output,
  signal: AbortSignal,
  stopGrace: number,
): Promise<void> {
  while (!signal.aborted) {
    const c = await run.store.next();
    if (!c) return;
    await runCombination(run, w, c, out, signal, stopGrace);
  }
}

async function runCombination(
  run: ExperimentRun,
  w: number,
  params: Combination,
  out: Output,
  runSignal: AbortSignal,
  stopGrace: number,
): Promise<void> {
  const { e } = run;
  const name = comboFolderName(params);
  const dir = join(run.runDir, name);
  await Deno.mkdir(dir, { recursive: true });
  // A result left by an earlier, interrupted owner of this combination is stale.
  await Deno.remove(join(dir, RESULT_JSON)).catch(() => {});
  await Deno.remove(join(dir, RESULT_PENDING_JSON)).catch(() => {});
  using comboLog = new LogFile(join(dir, LOG_TXT));
  const first = Date.now();
  const base = { experiment: e.name, worker: w, name };
  const toComboLog = (ev: RunEvent) => {
    const line = describeEvent(ev);
    if (line === undefined) return;
    comboLog.write(`${stamp(ev.at)} ${line.replace(`[${name}] `, "")}`);
    for (const d of describeDetails(ev)) comboLog.write(`${stamp(ev.at)} ${d}`);
  };
  const emit = (ev: RunEvent) => {
    toComboLog(ev);
    out.emit(ev);
  };
  const note = (line: string) => emit({ type: "output", at: Date.now(), ...base, line });
  for (let attempt = 1;; attempt++) {
    emit({ type: "combo-start", at: Date.now(), ...base, attempt });
    // Only the final attempt's rows count; rows of an owner that died are not kept either.
    await Deno.remove(join(dir, ROWS_JSONL)).catch(() => {});
    let detail: ErrorDetail | undefined;
    let takeBackFailed = false;
    // Commands of an owner that died may still run: end them before this attempt starts.
    const owners = await readOwners(dir);
    if (owners.length > 0) {
      const taken = await takeBack(run.hosts, owners);
      for (const t of taken) {
        note(
          t.skipped !== undefined
            ? `warn: took over from a previous owner: cannot end its processes on ${t.host}: ${t.skipped}`
            : t.error === undefined
            ? `took over from a previous owner: ended ${t.ended} leftover process(es) on ${t.host}`
            : `error: could not end the leftover processes of a previous owner on ${t.host}: ${t.error}`,
        );
      }
      const bad = taken.filter((t) => t.error !== undefined);
      if (bad.length === 0) await clearOwners(dir);
      else {
        takeBackFailed = true;
        detail = {
          error: `could not end the processes of a previous attempt on ${
            bad.map((t) => `${t.host} (${t.error})`).join(", ")
          }`,
        };
      }
    }
    const ac = new AbortController();
    const onRunAbort = () => ac.abort(new Error("the run was interrupted"));
    runSignal.addEventListener("abort", onRunAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (e.timeoutMs !== undefined && detail === undefined) {
      const t = e.timeoutMs;
      timer = setTimeout(() => ac.abort(new Error(`timed out after ${t} ms`)), t);
    }
    const token = crypto.randomUUID();
    // Detached jobs recorded by a runner that died: the body's ctx.detach() takes them back.
    let inherited = await readJobsFile(dir);
    const place = run.places?.[w] ?? null;
    const ctxHosts = place ? new Hosts([place.host]) : run.hosts;
    if (detail === undefined && inherited.some((x) => x.pending !== undefined)) {
      // Its starts that were under way: each job is found by its claim, or fenced off.
      try {
        inherited = await settleEntries(
          inherited,
          (label, host, root) =>
            ctxHosts.targets.find((t) => t.label === label) ??
              attachJobs({ v: 1, host, id: "x", root }).jobs[0].target,
        );
        await writeJobsFile(dir, inherited);
      } catch (err) {
        detail = {
          error: `could not settle the detached starts of a previous attempt: ${errorText(err)}`,
        };
      }
    }
    const ctx = new ExperimentContext({
      inherited,
      experiment: e.name,
      hosts: ctxHosts,
      host: place?.machine ?? null,
      slot: place?.slot ?? null,
      params,
      name,
      dir,
      runDir: run.runDir,
      attempt,
      maxRestarts: e.maxRestarts,
      token,
      onCommand: (targets) =>
        recordOwner(dir, {
          token,
          attempt,
          targets,
          host: Deno.hostname(),
          pid: Deno.pid,
          start: new Date().toISOString(),
        }),
      signal: ac.signal,
      log: makeLogger((level, line) =>
        emit({
          type: "output",
          at: Date.now(),
          ...base,
          line: level === "info" ? line : `${level}: ${line}`,
        })
      ),
      // Output is stored once, raw, in the combination's log; the display gets a sample.
      output: (info: LineInfo) =>
        logOutput(comboLog, info, (line) =>
          out.emit({
            type: "output",
            at: Date.now(),
            ...base,
            line: `[${info.target}${info.stream === "stderr" ? " err" : ""}] ${line}`,
            sampled: true,
          })),
    });
    let onAbort: (() => void) | undefined;
    let stopReason = "the attempt ended";
    if (detail === undefined) {
      const body = Promise.resolve().then(() => e.fn(ctx, params));
      const stopped = new Promise<typeof STOPPED>((res) => {
        onAbort = () => res(STOPPED);
        ac.signal.addEventListener("abort", onAbort, { once: true });
      });
      try {
        const r = await Promise.race([body, stopped]);
        if (r === STOPPED) {
          detail = { error: errorText(ac.signal.reason) };
          stopReason = detail.error;
          // From here on the body cannot start commands or write; its awaits reject.
          await ctx.stop(stopReason);
          let graceTimer: ReturnType<typeof setTimeout> | undefined;
          const returned = await Promise.race([
            body.then(() => true, () => true),
            new Promise<false>((res) => graceTimer = setTimeout(() => res(false), stopGrace)),
          ]);
          clearTimeout(graceTimer);
          if (!returned) {
            note(
              `warn: the body did not return within ${stopGrace} ms after attempt ${attempt} was stopped: its commands are ended and it can no longer write`,
            );
          }
        } else if (r === "restart") {
          detail = { error: "restart requested" };
        }
      } catch (err) {
        detail = err instanceof RestartRequest
          ? { error: `restart requested: ${err.message}` }
          : err instanceof AttemptStoppedError
          ? { error: err.reason }
          : errorDetail(err);
      } finally {
        clearTimeout(timer);
        runSignal.removeEventListener("abort", onRunAbort);
        if (onAbort) ac.signal.removeEventListener("abort", onAbort);
      }
    } else {
      runSignal.removeEventListener("abort", onRunAbort);
    }
    if (detail !== undefined && stopReason === "the attempt ended") stopReason = detail.error;
    const leftovers = await ctx.stop(stopReason);
    const detached = await ctx.closeDetached();
    if (detached.unended > 0) {
      note(
        `warn: ${detached.unended} detached job(s) of attempt ${attempt} could not be ended or reached: jobs.json keeps them for the next owner`,
      );
    }
    const jobsMore = detached.results.length ? { jobs: detached.results } : {};
    let verified = true;
    if (leftovers > 0 && !takeBackFailed) {
      // Commands were still running when the attempt stopped: make sure that none of their
      // processes outlived the kill (a remote kill may not have got through).
      const mine = (await readOwners(dir)).filter((r) => r.token === token);
      for (const t of await takeBack(run.hosts, mine)) {
        if (t.error !== undefined) {
          verified = false;
          note(
            `warn: could not make sure that attempt ${attempt} left nothing running on ${t.host}: ${t.error}`,
          );
        } else if (t.ended > 0) {
          note(
            `warn: ended ${t.ended} process(es) of attempt ${attempt} that outlived it on ${t.host}`,
          );
        }
      }
    }
    // Every command of the attempt has ended: nothing is left to take back. Otherwise the
    // records stay, and the next attempt (or the next owner) takes them back first.
    if (!takeBackFailed && verified) await clearOwners(dir);
    if (leftovers > 0 && detail === undefined) {
      note(`warn: stopped ${leftovers} command(s) still running at the end of the attempt`);
    }
    const error = detail?.error;
    const failures = detail?.failures;
    if (error !== undefined && (runSignal.aborted || await slurmTaskEnding(runSignal))) {
      emit({ type: "combo-interrupted", at: Date.now(), ...base });
      await run.store.cancel(params);
      return;
    }
    const more = failures !== undefined ? { failures } : {};
    if (error !== undefined) {
      const retry = attempt <= e.maxRestarts;
      emit({ type: "attempt-failed", at: Date.now(), ...base, attempt, error, ...more, retry });
      if (retry) continue;
    }
    const end = Date.now();
    const outcome: ComboOutcome = error === undefined ? "ok" : "failed";
    const record: CombinationRecord = {
      experiment: e.name,
      name,
      params,
      outcome,
      attempts: attempt,
      start: new Date(first).toISOString(),
      end: new Date(end).toISOString(),
      duration: end - first,
      ...(error !== undefined ? { error } : {}),
      ...more,
      ...jobsMore,
      host: Deno.hostname(),
      pid: Deno.pid,
    };
    const ended: RunEvent = {
      type: "combo-end",
      at: end,
      ...base,
      outcome,
      attempts: attempt,
      duration: end - first,
      ...(error !== undefined ? { error } : {}),
      ...more,
    };
    // The last line goes to the combination's log before result.json marks it finished:
    // 'dexp log -f RUN_DIR COMBINATION' stops when result.json appears.
    toComboLog(ended);
    // Order on disk: the result is written aside, then the checkpoint says finished, then
    // the result is put in place. A crash before the checkpoint leaves a pending result that
    // is removed when the combination runs again; a crash after it, one that is put in
    // place when the run is opened again (rollForward).
    const pending = join(dir, RESULT_PENDING_JSON);
    await writeJsonAtomic(pending, record, { fsync: true });
    crashPoint("result-pending");
    if (outcome === "ok") await run.store.done(params);
    else await run.store.fail(params, error!);
    crashPoint("checkpoint-written");
    try {
      await Deno.rename(pending, join(dir, RESULT_JSON));
    } catch (err) {
      // Another runner opening the run rolled it forward meanwhile.
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    crashPoint("result-written");
    run.ranHere++;
    out.emit(ended);
    return;
  }
}
