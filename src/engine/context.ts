/**
 * The context of one attempt of one combination (`ctx`): hosts, parameters, folders, logger,
 * commands that are logged and stopped with the attempt, atomic result files, restarts.
 *
 * @module
 */

import {
  type Group,
  GroupCommand,
  type GroupCommandInput,
  type RunningGroup,
} from "../action/mod.ts";
import {
  Command,
  isAbsolute,
  join,
  normalize,
  type OutputSinkFactory,
  type RunningProcess,
  type Target,
} from "../process/mod.ts";
import { attachJobs } from "../slurm/mod.ts";
import {
  checkRemotePath,
  DEFAULT_JOBS_ROOT,
  detach,
  type DetachOptions,
  hostOfTarget,
  Job,
  JobGroup,
  type JobStatus,
  type WaitOptions,
} from "../jobs/mod.ts";
import type { Combination, JsonValue } from "./_sweep.ts";
import { ROWS_JSONL } from "./rundir.ts";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
import { type DetachedEntry, type DetachedJob, removeJobsFile, writeJobsFile } from "./detached.ts";
import type { Logger } from "./log.ts";

/**
 * Thrown by `ctx.restart()`: the attempt ends and another one is asked for.
 *
 * @example
 * ```ts
 * import { defineExperiment, runExperiments } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const results = await Deno.makeTempDir();
 * const attempts: number[] = [];
 * const e = defineExperiment("restarts", { maxRestarts: 1 }, (ctx) => {
 *   attempts.push(ctx.attempt);
 *   if (ctx.attempt === 1) ctx.restart("warm-up run"); // throws a RestartRequest
 * });
 * strictEqual((await runExperiments([e], { results, display: "none" })).ok, true);
 * deepStrictEqual(attempts, [1, 2]); // attempts count from 1
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export class RestartRequest extends Error {
  /**
   * Makes the request.
   *
   * @param reason Why another attempt is needed.
   */
  constructor(reason: string) {
    super(reason);
    this.name = "RestartRequest";
  }
}

/**
 * Thrown (or rejected with) when a stopped attempt tries to go on: awaiting a command it
 * started, starting a new one, adding rows, writing files or logging. An attempt stops when
 * it times out, the run is interrupted, it asks for a restart, or its body returns.
 *
 * @example
 * ```ts
 * import { AttemptStoppedError, defineExperiment, runExperiments } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 *
 * const results = await Deno.makeTempDir();
 * let seen: unknown;
 * const slow = defineExperiment("slow", { params: { n: [1] }, timeout: "300ms" }, async (ctx) => {
 *   try {
 *     await ctx.spawn("sleep 30"); // killed when the attempt times out
 *   } catch (e) {
 *     seen = e; // the body cannot go on as if the command had ended
 *     throw e;
 *   }
 * });
 * const summary = await runExperiments([slow], { results, display: "none" });
 * strictEqual(summary.ok, false);
 * ok(seen instanceof AttemptStoppedError);
 * strictEqual(seen.reason, "timed out after 300 ms");
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export class AttemptStoppedError extends Error {
  /** The combination's name. */
  readonly combination: string;
  /** The attempt number. */
  readonly attempt: number;
  /** Why the attempt was stopped, e.g. `timed out after 300 ms`. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param combination The combination's name.
   * @param attempt The attempt number.
   * @param reason Why the attempt was stopped.
   * @param refused What was refused, e.g. `adding rows`.
   */
  constructor(combination: string, attempt: number, reason: string, refused: string) {
    super(
      `Attempt ${attempt} of '${combination}' was stopped (${reason}): ${refused} is refused`,
    );
    this.name = "AttemptStoppedError";
    this.combination = combination;
    this.attempt = attempt;
    this.reason = reason;
  }
}

/** A row of results: column names mapped to JSON values. */
export type Row = Record<string, JsonValue>;

/** What the runner gives a context (internal). */
export interface ContextInit<H extends Group> {
  experiment: string;
  hosts: H;
  /** With a pool: the machine and slot the combination runs on. */
  host?: string | null;
  slot?: string | null;
  params: Combination;
  name: string;
  dir: string;
  runDir: string;
  attempt: number;
  maxRestarts: number;
  /** Set as `DEXP_ATTEMPT` in the environment of every command of the attempt. */
  token?: string;
  /** Called before a command starts, with the labels of its targets (records its owner). */
  onCommand?: (targets: string[]) => void;
  signal: AbortSignal;
  log: Logger;
  /** Where the raw output of `ctx.spawn` commands goes, per stream of each process. */
  output: OutputSinkFactory;
  /** The entries of `jobs.json` left by a runner that died (its jobs may still run). */
  inherited?: readonly DetachedEntry[];
}

/** Options of {@linkcode ExperimentContext.detach}. */
export interface ContextDetachOptions extends DetachOptions {
  /**
   * Keep the job folders on the hosts after the attempt (default false: once the attempt
   * ended and the jobs' results are in `result.json`, their folders are removed).
   */
  readonly keep?: boolean;
}

/** What `result.json` records of a detached job of the last attempt. */
export interface DetachedResult {
  /** The target's label. */
  target: string;
  /** The job id. */
  id: string;
  /** The job name. */
  name: string;
  /** Its final state (`running` or `unknown` if it could not be ended or reached). */
  state: JobStatus["state"];
  /** Its exit code, if it exited. */
  exitCode: number | null;
  /** The signal that ended it, if one did. */
  signal: string | null;
  /** Why it failed (as for a command), if it did. */
  failure?: string;
  /** The failure in words (e.g. why it was lost). */
  reason?: string;
  /** Its standard output (the last 64 KiB at most; the combination's log has no copy). */
  stdout: string;
  /** Its standard error (the last 64 KiB at most). */
  stderr: string;
  /** Started by an earlier runner of this combination, taken back by this one. */
  reattached: boolean;
}

const DETACHED_CAPTURE = 64 * 1024;

type Handle = RunningGroup | RunningProcess;

/**
 * The context of one attempt of one combination, passed to the experiment body.
 *
 * @example
 * ```ts
 * import { defineExperiment, runExperiments } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const results = await Deno.makeTempDir();
 * const seen: string[] = [];
 * const e = defineExperiment("ctx-demo", { params: { n: [1, 2] } }, async (ctx, p) => {
 *   const r = await ctx.spawn(`echo ${p.n * 10}`); // on ctx.hosts (here: this machine)
 *   const file = await ctx.writeFile("out.txt", r.text()[0]); // in this combination's folder
 *   seen.push(`${ctx.name}: ${await Deno.readTextFile(file)}`);
 * });
 * const summary = await runExperiments([e], { results, display: "none" });
 * strictEqual(summary.ok, true);
 * deepStrictEqual(seen, ["n=1: 10", "n=2: 20"]);
 * await Deno.remove(results, { recursive: true });
 * ```
 */
export class ExperimentContext<H extends Group = Group> {
  /** The experiment's name. */
  readonly experiment: string;
  /** The hosts of the experiment (with a pool: the machine of this combination's slot). */
  readonly hosts: H;
  /** With `experiment(..., { pool })`: the pool machine this combination runs on, else null. */
  readonly host: string | null;
  /** With `experiment(..., { pool })`: the slot value (`{slot}`) it holds, else null. */
  readonly slot: string | null;
  /** The parameters of this combination. */
  readonly params: Combination;
  /** The combination's filesystem-safe name, e.g. `a=1_b=2`. */
  readonly name: string;
  /** The combination's result folder (exists). */
  readonly dir: string;
  /** The run's folder: `<results>/<experiment>/<run-id>`. */
  readonly runDir: string;
  /** The attempt number, 1 for the first. */
  readonly attempt: number;
  /** The most restarts allowed: attempts go up to `maxRestarts + 1`. */
  readonly maxRestarts: number;
  /** Aborted when the attempt times out or the run is interrupted. */
  readonly signal: AbortSignal;
  /** Logs to the combination's log, the run's log and the display. */
  readonly log: Logger;
  readonly #output: OutputSinkFactory;
  readonly #running = new Set<Handle>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #token: string | undefined;
  readonly #onCommand: ((targets: string[]) => void) | undefined;
  #stopReason: string | null = null;
  readonly #stoppedAt = Promise.withResolvers<void>();
  readonly #stopAc = new AbortController();
  /** `jobs.json` entries: inherited ones, replaced as calls do not match them. */
  #slots: DetachedEntry[];
  /** The jobs of each slot (started or taken back by this attempt), by call. */
  readonly #groups = new Map<number, { group: JobGroup; reattached: boolean }>();
  #detachCalls = 0;
  readonly #known = new Map<string, Job>();

  /**
   * Made by the runner.
   *
   * @param init The context's values.
   * @internal
   */
  constructor(init: ContextInit<H>) {
    this.experiment = init.experiment;
    this.hosts = init.hosts;
    this.host = init.host ?? null;
    this.slot = init.slot ?? null;
    this.params = init.params;
    this.name = init.name;
    this.dir = init.dir;
    this.runDir = init.runDir;
    this.attempt = init.attempt;
    this.maxRestarts = init.maxRestarts;
    this.signal = init.signal;
    const inner = init.log;
    const guarded = (write: (m: string) => void, m: string) => {
      this.#check("logging");
      write(m);
    };
    const log = ((m: string) => guarded(inner, m)) as Logger;
    log.info = (m) => guarded(inner.info, m);
    log.warn = (m) => guarded(inner.warn, m);
    log.error = (m) => guarded(inner.error, m);
    this.log = log;
    this.#output = init.output;
    this.#token = init.token;
    this.#onCommand = init.onCommand;
    this.#slots = [...(init.inherited ?? [])];
  }

  /** Why the attempt was stopped, or null while it runs (internal). */
  get stopReason(): string | null {
    return this.#stopReason;
  }

  #check(what: string): void {
    if (this.#stopReason !== null) {
      throw new AttemptStoppedError(this.name, this.attempt, this.#stopReason, what);
    }
    if (this.signal.aborted) {
      throw new AttemptStoppedError(this.name, this.attempt, String(this.signal.reason), what);
    }
  }

  /** Runs a write of the attempt; stop() waits for the writes in flight. */
  async #write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.#check(what);
    const p = fn();
    this.#pending.add(p);
    try {
      return await p;
    } finally {
      this.#pending.delete(p);
    }
  }

  /** Rejects as soon as the attempt stops, or after `p` if it stopped meanwhile. */
  #guard<R>(p: Promise<R>): Promise<R> {
    const stopped = this.#stoppedAt.promise.then((): never => {
      throw new AttemptStoppedError(
        this.name,
        this.attempt,
        this.#stopReason!,
        "waiting for a command",
      );
    });
    return Promise.race([p, stopped]).then((v) => {
      this.#check("waiting for a command");
      return v;
    });
  }

  /**
   * The command with the attempt's token in its environment, its owner recorded on disk
   * before it starts.
   */
  #owned(
    command: GroupCommandInput<Target> | GroupCommand<Target> | Command,
  ): GroupCommand<Target> | Command {
    const env = this.#token !== undefined ? { DEXP_ATTEMPT: this.#token } : {};
    if (command instanceof Command) {
      this.#onCommand?.([command.target.label]);
      return command.env(env);
    }
    const gc = command instanceof GroupCommand
      ? command
      : (this.hosts.run(command as GroupCommandInput) as GroupCommand<Target>);
    this.#onCommand?.(gc.targets.map((t) => t.label));
    return gc.env(env);
  }

  /** The handle given to the body: awaiting it rejects once the attempt is stopped. */
  #wrap(h: Handle): Handle {
    const guard = <R>(p: Promise<R>) => this.#guard(p);
    return new Proxy(h, {
      get(t, k) {
        if (k === "then") {
          return (a?: (v: unknown) => unknown, b?: (e: unknown) => unknown) =>
            guard((t.wait as () => Promise<unknown>)()).then(a, b);
        }
        if (k === "wait") return () => guard((t.wait as () => Promise<unknown>)());
        if (k === "result") return () => guard((t.result as () => Promise<unknown>)());
        const v = Reflect.get(t, k, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  }

  /**
   * Starts a command now (like `Command.spawn()`: it is not a lazy builder, so it is named
   * `spawn` and not `run`) whose output goes to the combination's log (raw, chunk by chunk; the
   * display shows a sample of it), and which
   * is stopped when the attempt ends, times out or the run is interrupted. A string, argv or
   * per-host function runs on every host of `ctx.hosts`; a builder (`cmd(...)`,
   * `hosts.where(...).run(...)`) runs as built.
   *
   * @param command The command.
   * @returns The running handle: await it for the result, or `kill()` it. Awaiting it
   *   rejects with an {@linkcode AttemptStoppedError} once the attempt is stopped.
   * @throws {AttemptStoppedError} If the attempt was already stopped.
   */
  spawn(command: Command): RunningProcess;
  /**
   * Starts a command on every host of `ctx.hosts` (a string, argv or per-host function), or
   * a group command as built; its output goes to the logs and it is stopped with the attempt.
   *
   * @param command The command.
   * @returns The running group: await it for the {@linkcode GroupResult}, or `kill()` it.
   *   Awaiting it rejects with an {@linkcode AttemptStoppedError} once the attempt is stopped.
   * @throws {AttemptStoppedError} If the attempt was already stopped.
   */
  spawn(command: GroupCommandInput<Target> | GroupCommand<Target>): RunningGroup;
  spawn(command: GroupCommandInput<Target> | GroupCommand<Target> | Command): Handle {
    this.#check("starting a command");
    command = this.#owned(command);
    const out = this.#output;
    let handle: Handle;
    if (command instanceof Command) {
      handle = command.onOutput(out).quiet().spawn();
    } else {
      const gc = command instanceof GroupCommand
        ? command
        : (this.hosts.run(command as GroupCommandInput) as GroupCommand<Target>);
      handle = gc.onOutput(out).quiet().spawn();
    }
    this.#running.add(handle);
    const forget = () => this.#running.delete(handle);
    handle.result().then(forget, forget);
    return this.#wrap(handle);
  }

  /**
   * Starts a command as detached jobs (see `detach()`): on every host of `ctx.hosts` (a
   * string, argv or per-host function) or as a group command was built. Their references
   * are written to the combination's `jobs.json` (atomically, flushed to disk) before this
   * resolves; the attempt owns the jobs: they are killed when it ends, times out or the run
   * is interrupted, and their results go to `result.json`.
   *
   * The call's entry is written before the start as well, with the claim key that each
   * host's start claims first (see `DetachOptions.claim`, which this sets): a runner killed
   * during the start leaves it, and the next attempt, before its body runs, finds the jobs that
   * started by their claims and fences the key off where none did, so that a start still on
   * its way runs nothing.
   *
   * If the runner dies (even by SIGKILL), the jobs run on. When the run is resumed, the
   * combination's new attempt takes them back: its calls to `ctx.detach()` whose job name,
   * hosts and commands are those of the dead runner's call at the same place (the first
   * call, the second...) return the jobs it started, without starting them again, so the
   * body's code is unchanged. Jobs that ended meanwhile give their exit code and output;
   * lost ones fail like a failed command. The jobs do not carry the attempt's
   * `DEXP_ATTEMPT` token, so the take-back of the dead runner's other commands spares them.
   *
   * @param command The command.
   * @param options Job name (default `job`), jobs root, heartbeat; `keep` the job folders.
   * @returns The jobs: `wait()` or `result()` give the {@linkcode GroupResult}; both reject
   *   with an {@linkcode AttemptStoppedError} once the attempt is stopped.
   * @throws {AttemptStoppedError} If the attempt was already stopped.
   * @throws {GroupError} If a host could not start its job (unless `noThrow()`).
   */
  async detach(
    command: GroupCommandInput<Target> | GroupCommand<Target>,
    options: ContextDetachOptions = {},
  ): Promise<JobGroup> {
    this.#check("starting a detached command");
    const gc = command instanceof GroupCommand
      ? command
      : (this.hosts.run(command as GroupCommandInput) as GroupCommand<Target>);
    const call = this.#detachCalls++;
    const name = options.name ?? "job";
    const targets = gc.targets.map((t) => t.label);
    const commands = gc.targets.map((t, i) =>
      JSON.stringify(typeof gc.input === "function" ? gc.input(t, i) : gc.input)
    );
    const old = this.#slots[call];
    // Only the jobs of another runner (one that died) are taken back: this runner's own, of
    // an earlier attempt that could not end them, are ended below.
    const mine = old !== undefined && old.runner.pid === Deno.pid &&
      old.runner.host === Deno.hostname();
    if (
      old !== undefined && !mine && old.name === name && same(old.targets, targets) &&
      same(old.commands, commands) && !old.partial && old.pending === undefined
    ) {
      const byLabel = new Map(gc.targets.map((t) => [t.label, t]));
      const group = new JobGroup(
        old.jobs.map((j) => {
          const t = byLabel.get(j.target);
          return t ? new Job(j.ref, t) : this.#jobOf(j);
        }),
      );
      this.#groups.set(call, { group, reattached: true });
      this.log(
        `took back ${group.length} detached job(s) '${name}' started by attempt ${old.attempt} of the runner ${old.runner.host}:${old.runner.pid}`,
      );
      return this.#wrapJobs(group);
    }
    // The calls from here on differ from those of the dead runner: its jobs are ended and
    // forgotten (their results would belong to no call).
    const stale = this.#slots.slice(call);
    this.#slots = this.#slots.slice(0, call);
    if (stale.length) {
      const jobs = stale.flatMap((e) => e.jobs.map((j) => this.#jobOf(j)));
      this.log(
        `ended ${jobs.length} detached job(s) of an earlier attempt: this attempt's call ${
          call + 1
        } to ctx.detach() differs from theirs (name, hosts or command)`,
      );
      await new JobGroup(jobs).forget().catch(() => {});
    }
    // One write of the attempt from the start to the record: stop() waits for all of it.
    return await this.#write("starting a detached command", () => this.#start(gc, call, options));
  }

  async #start(
    gc: GroupCommand<Target>,
    call: number,
    options: ContextDetachOptions,
  ): Promise<JobGroup> {
    const { keep, ...rest } = options;
    const name = options.name ?? "job";
    const targets = gc.targets.map((t) => t.label);
    const commands = gc.targets.map((t, i) =>
      JSON.stringify(typeof gc.input === "function" ? gc.input(t, i) : gc.input)
    );
    const base = {
      call,
      name,
      commands,
      targets,
      attempt: this.attempt,
      runner: { host: Deno.hostname(), pid: Deno.pid },
      started: new Date().toISOString(),
      ...(keep ? { keep: true } : {}),
    };
    // Written ahead: a runner killed during the start leaves the claim key that each target's
    // start claims, so the next attempt finds the jobs that started, and fences off the
    // starts still on their way, instead of starting the jobs again beside them.
    const claim = `a${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const pending = {
      claim,
      root: checkRemotePath(rest.root ?? DEFAULT_JOBS_ROOT, "'root'"),
      hosts: gc.targets.map(hostOfTarget),
    };
    this.#slots[call] = { ...base, jobs: [], pending };
    await writeJobsFile(this.dir, this.#slots.filter((e) => e !== undefined));
    let group: JobGroup;
    try {
      group = await detach(gc, { ...rest, claim });
    } catch (e) {
      // Nothing runs (detach ended what did start): no entry. Should the file keep it, the
      // next attempt settles it like any pending start, which is harmless.
      delete this.#slots[call];
      await writeJobsFile(this.dir, this.#slots.filter((x) => x !== undefined)).catch(() => {});
      throw e;
    }
    this.#groups.set(call, { group, reattached: false });
    const labelOf = new Map(group.jobs.map((j) => [j, j.target.label]));
    const entry: DetachedEntry = {
      ...base,
      jobs: group.jobs.map((j): DetachedJob => ({ target: labelOf.get(j)!, ref: j.ref })),
    };
    this.#slots[call] = entry;
    if (this.#stopReason !== null) {
      // Stopped while starting: stop() may have missed these jobs.
      await endJobs(group.jobs);
      this.#check("starting a detached command");
    }
    await writeJobsFile(this.dir, this.#slots.filter((e) => e !== undefined));
    this.#check("starting a detached command");
    return this.#wrapJobs(group);
  }

  /** The group given to the body: its waits reject once the attempt is stopped. */
  #wrapJobs(g: JobGroup): JobGroup {
    const guard = <R>(p: Promise<R>) => this.#guard(p);
    const signal = this.#stopAc.signal;
    return new Proxy(g, {
      get(t, k) {
        if (k === "wait" || k === "result") {
          return (o: WaitOptions = {}) =>
            guard(
              (t[k] as (o: WaitOptions) => Promise<unknown>).call(t, {
                ...o,
                signal: o.signal ? AbortSignal.any([o.signal, signal]) : signal,
              }),
            );
        }
        const v = Reflect.get(t, k, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  }

  /** A recorded job, on the target of `ctx.hosts` with its label (one connection). */
  #jobOf(j: DetachedJob): Job {
    const key = `${j.target}\0${j.ref.root}\0${j.ref.id}`;
    let job = this.#known.get(key);
    if (job === undefined) {
      const t = this.hosts.targets.find((x) => x.label === j.target);
      job = t ? new Job(j.ref, t) : attachJobs(j.ref).jobs[0];
      this.#known.set(key, job);
    }
    return job;
  }

  /** Every job of the attempt's `jobs.json` entries (started, taken back or inherited). */
  #allJobs(): { job: Job; name: string; reattached: boolean; keep: boolean }[] {
    const out: { job: Job; name: string; reattached: boolean; keep: boolean }[] = [];
    this.#slots.forEach((e, call) => {
      if (e === undefined) return;
      const g = this.#groups.get(call);
      const jobs = g ? g.group.jobs : e.jobs.map((j) => this.#jobOf(j));
      for (const job of jobs) {
        out.push({ job, name: e.name, reattached: g?.reattached ?? true, keep: e.keep === true });
      }
    });
    return out;
  }

  /**
   * After the attempt stopped (internal): the results of its detached jobs, for
   * `result.json`. Once every job has ended, `jobs.json` is removed and the job folders (but
   * those asked to be kept) are forgotten; otherwise `jobs.json` stays for the next owner.
   *
   * @returns One record per job, and whether jobs could not be ended.
   */
  async closeDetached(): Promise<{ results: DetachedResult[]; unended: number }> {
    const all = this.#allJobs();
    if (all.length === 0) {
      await removeJobsFile(this.dir);
      return { results: [], unended: 0 };
    }
    const st = await new JobGroup(all.map((a) => a.job)).status();
    const results = await Promise.all(all.map(async (a, i): Promise<DetachedResult> => {
      const base = {
        target: a.job.target.label,
        id: a.job.id,
        name: a.name,
        state: st[i].state,
        reattached: a.reattached,
      };
      if (st[i].state === "running" || st[i].state === "unknown") {
        return { ...base, exitCode: null, signal: null, stdout: "", stderr: "" };
      }
      try {
        const r = await a.job.result({ captureLimit: DETACHED_CAPTURE });
        return {
          ...base,
          exitCode: r.exitCode,
          signal: r.signal,
          ...(r.failure ? { failure: r.failure } : {}),
          ...(r.reason ? { reason: r.reason } : {}),
          stdout: r.stdout.slice(-DETACHED_CAPTURE),
          stderr: r.stderr.slice(-DETACHED_CAPTURE),
        };
      } catch (e) {
        return {
          ...base,
          exitCode: null,
          signal: null,
          reason: (e as Error).message,
          stdout: "",
          stderr: "",
        };
      }
    }));
    const unended = st.filter((s) => s.state === "running" || s.state === "unknown").length;
    if (unended === 0) {
      // The record goes first: a crash before the folders are gone leaves finished folders,
      // never a record of jobs whose folders were removed.
      await removeJobsFile(this.dir);
      const gone = all.filter((a) => !a.keep).map((a) => a.job);
      if (gone.length) await new JobGroup(gone).forget().catch(() => {});
    }
    return { results, unended };
  }

  /**
   * Ends this attempt and asks for another one (counted against `maxRestarts`).
   *
   * @param reason Why; written to the log.
   * @returns Never: it throws.
   * @throws {RestartRequest} Always.
   */
  restart(reason = "restart requested"): never {
    throw new RestartRequest(reason);
  }

  /**
   * The path of a file in the combination's folder.
   *
   * @param name A relative path.
   * @returns The absolute path.
   * @throws {TypeError} If the path leaves the folder.
   */
  path(name: string): string {
    const n = normalize(name);
    if (isAbsolute(n) || n === ".." || n.startsWith("../")) {
      throw new TypeError(
        `Result file '${name}' must be a relative path inside the combination's folder`,
      );
    }
    return join(this.dir, n);
  }

  /**
   * Writes a file in the combination's folder atomically.
   *
   * @param name A relative path.
   * @param data Text or bytes.
   * @returns The absolute path written.
   */
  async writeFile(name: string, data: string | Uint8Array): Promise<string> {
    const p = this.path(name);
    await this.#write("writing files", () => writeFileAtomic(p, data));
    return p;
  }

  /**
   * Writes a JSON file in the combination's folder atomically.
   *
   * @param name A relative path.
   * @param value The value.
   * @returns The absolute path written.
   */
  async writeJson(name: string, value: unknown): Promise<string> {
    const p = this.path(name);
    await this.#write("writing files", () => writeJsonAtomic(p, value));
    return p;
  }

  /**
   * Adds result rows for this combination (`rows.jsonl`), collected by `dexp report`. The
   * rows of an attempt that did not succeed are dropped when a later attempt starts: only
   * the final attempt's rows count.
   *
   * @param rows Rows of column values.
   * @returns Resolves when written.
   * @throws {AttemptStoppedError} If the attempt was stopped.
   */
  async addRows(rows: readonly Row[]): Promise<void> {
    this.#check("adding rows");
    if (rows.length === 0) return;
    const text = rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
    await this.#write(
      "adding rows",
      () => Deno.writeTextFile(join(this.dir, ROWS_JSONL), text, { append: true }),
    );
  }

  /**
   * Stops the attempt (internal): from now on it cannot start commands, write or log, and
   * whoever awaits one of its commands gets an {@linkcode AttemptStoppedError}. Kills every
   * command started by {@linkcode run} that still runs and waits for them to end, and for
   * writes in flight.
   *
   * @param reason Why the attempt stops.
   * @returns How many commands were still running.
   */
  async stop(reason: string): Promise<number> {
    if (this.#stopReason === null) {
      this.#stopReason = reason;
      this.#stoppedAt.resolve();
      this.#stopAc.abort(new Error(reason));
    }
    const handles = [...this.#running];
    await Promise.all([
      ...handles.map((h) => h.kill().catch(() => {})),
      endJobs(this.#allJobs().map((a) => a.job)),
    ]);
    await Promise.all(handles.map((h) => h.result().catch(() => {})));
    await Promise.allSettled([...this.#pending]);
    return handles.length;
  }

  /**
   * Kills every command started by {@linkcode run} that still runs (internal); the same as
   * `stop("the attempt ended")`.
   *
   * @returns How many were running.
   */
  stopAll(): Promise<number> {
    return this.stop("the attempt ended");
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Kills the jobs that still run (a kill of an ended job would mark it killed). */
async function endJobs(jobs: readonly Job[]): Promise<void> {
  if (jobs.length === 0) return;
  try {
    const st = await new JobGroup(jobs).status();
    const running = jobs.filter((_, i) => st[i].state === "running");
    if (running.length) await new JobGroup(running).kill();
  } catch { /* An unreachable host: jobs.json stays, the next owner ends them. */ }
}
