/**
 * A pool directory: machines in classes and a persistent queue of jobs, shared by every
 * process that opens it (the CLI, scripts, one dispatcher). Every change is one fsynced
 * journal transaction under a file lock; reads bring the state up to date first.
 *
 * @module
 */

import { type Duration, resolve, toMillis } from "../process/mod.ts";
import { Host, type HostInput } from "../ssh/mod.ts";
import type { JobRef } from "../jobs/mod.ts";
import { PoolStateError } from "./errors.ts";
import { checkCommand, checkMatrix, expandMatrix, type Matrix } from "./matrix.ts";
import { jobsOf, type JobSpec, type Op, type PoolState } from "./_state.ts";
import { createPoolFiles, PoolJournal } from "./_journal.ts";
import type { ServeOptions } from "./dispatcher.ts";
import { servePool } from "./pool_dispatch.ts";
import type {
  Attempt,
  AttemptOutcome,
  JobState,
  Machine,
  MachineState,
  PoolClass,
  PoolClassInput,
  PoolJob,
  RetryPolicy,
} from "./types.ts";

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Options of {@linkcode openPool}. */
export interface OpenPoolOptions {
  /** Compact the journal into the snapshot beyond this many bytes (default 8 MiB). */
  compactBytes?: number;
}

/** Options of {@linkcode initPool}. */
export interface InitPoolOptions extends OpenPoolOptions {
  /** Classes to define at once. */
  classes?: readonly PoolClassInput[];
  /** Pool variables, for setup commands and job commands (`{name}`). */
  vars?: Readonly<Record<string, string>>;
}

/** A job to submit. */
export interface SubmitSpec {
  /** The class of machines it runs on. */
  class: string;
  /** The command, with `{host}`, `{slot}`, `{job}`, `{class}` and matrix or pool variables. */
  command: string;
  /** The results folder (made absolute from the current directory), or null. */
  results?: string | null;
  /**
   * Paths on the host that the job writes (with the command's placeholders, e.g.
   * `out/{job}.csv`), copied back into `<results>/<job>/` after it ends, besides the paths of
   * its `RESULTS:` lines. Needs `results`.
   */
  outputs?: readonly string[];
  /** Time limit of one attempt. */
  timeout?: Duration | null;
  /** Retry policy (default: 1 attempt, infrastructure failures not counted). */
  retry?: Partial<RetryPolicy>;
  /** Submit this many copies (`-x N`, default 1). */
  repeat?: number;
}

/** A matrix of jobs to submit. */
export interface MatrixSpec extends SubmitSpec {
  /** Variables and their values: the cartesian product makes the jobs. */
  matrix: Matrix;
}

/** Which jobs {@linkcode Pool.jobs} returns. */
export interface JobFilter {
  /** Only jobs in these states. */
  state?: JobState | readonly JobState[];
  /** Only jobs of this class. */
  class?: string;
  /** Only these ids. */
  ids?: readonly number[];
  /** Only jobs of this matrix (the id of its first job). */
  matrix?: number;
}

/** Where a claimed job runs. */
export interface ClaimSpec {
  /** The machine name. */
  machine: string;
  /** The slot value. */
  slot: string;
  /** The detached job's reference, if already known (else {@linkcode Pool.setAttemptRef}). */
  ref?: JobRef | null;
}

/** How an attempt ended, for {@linkcode Pool.finishAttempt}. */
export interface AttemptEnd {
  /** `done`, `failed`, `lost` or `canceled`. */
  outcome: AttemptOutcome;
  /** Why (exit code, signal, copy failed ...). */
  reason?: string | null;
  /** The command's exit code, if it exited. */
  exitCode?: number | null;
  /** Whether the failure was of the infrastructure (connect, lost), not of the command. */
  infrastructure?: boolean;
  /** Where its results were copied. */
  results?: string | null;
}

/** A machine's setup, for {@linkcode Pool.setupStarted} and friends. */
export interface SetupInfo {
  /** Fingerprint of the setup commands (filled). */
  fingerprint: string;
  /** Where the setup log is kept. */
  log?: string | null;
}

/** What changed, as {@linkcode Pool.changes} reports it. */
export interface PoolChange {
  /** The sequence number of the last transaction read. */
  seq: number;
}

/** One row of {@linkcode Pool.stat}: the job, its matrix variables, its outcome. */
export type StatRow = Record<string, string | number | null>;

/** The result of {@linkcode Pool.stat}. */
export interface PoolStat {
  /** The columns, in order: id, class, the matrix variables, then outcome columns. */
  columns: string[];
  /** One row per job. */
  rows: StatRow[];
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new TypeError(
      `${what} name ${
        JSON.stringify(name)
      } is not valid: use letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
    );
  }
  return name;
}

function checkClass(input: PoolClassInput): PoolClass {
  const name = checkName(input?.name, "Class");
  const slots = input.slots ?? 1;
  if (typeof slots === "number") {
    if (!Number.isInteger(slots) || slots <= 0) {
      throw new RangeError(
        `'slots' of class '${name}' must be a positive integer or a list of names: received ${slots}`,
      );
    }
  } else {
    if (!Array.isArray(slots) || slots.length === 0) {
      throw new RangeError(`'slots' of class '${name}' must name at least one slot: received none`);
    }
    const seen = new Set<string>();
    for (const s of slots) {
      if (typeof s !== "string" || !/^[A-Za-z0-9_.,:=+-]+$/.test(s)) {
        throw new RangeError(
          `Slot ${
            JSON.stringify(s)
          } of class '${name}' must be a word of letters, digits and _.,:=+-`,
        );
      }
      if (seen.has(s)) throw new RangeError(`Slot '${s}' of class '${name}' is listed twice`);
      seen.add(s);
    }
  }
  const env = { ...(input.env ?? {}) };
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new TypeError(
        `Environment variable name ${
          JSON.stringify(k)
        } of class '${name}' is not valid: use letters, digits and _`,
      );
    }
    if (typeof env[k] !== "string") {
      throw new TypeError(`Environment variable '${k}' of class '${name}' must be a string`);
    }
  }
  const setup = [...(input.setup ?? [])];
  for (const c of setup) {
    if (typeof c !== "string" || c.trim() === "") {
      throw new TypeError(`Setup commands of class '${name}' must be non-empty shell lines`);
    }
  }
  return {
    name,
    slots: typeof slots === "number" ? slots : [...slots],
    env,
    prefix: input.prefix ?? null,
    setup,
    setupTimeout: input.setupTimeout == null ? null : toMillis(input.setupTimeout, "setupTimeout"),
    stagger: input.stagger == null ? 0 : toMillis(input.stagger, "stagger"),
  };
}

function unknownClass(s: PoolState, name: string): RangeError {
  const known = [...s.classes.keys()];
  return new RangeError(
    `Unknown class '${name}': ${
      known.length
        ? `use one of ${known.map((k) => `'${k}'`).join(", ")}, or define it`
        : "define it"
    } with 'dexp pool class add ${name}' (or pool.defineClass())`,
  );
}

function checkVars(vars: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new TypeError(
        `Pool variable name ${JSON.stringify(k)} is not valid: use letters, digits and _`,
      );
    }
    if (typeof v !== "string") throw new TypeError(`Pool variable '${k}' must be a string`);
    out[k] = v;
  }
  return out;
}

function machineName(host: HostInput): string {
  try {
    return new Host(host).name;
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      const E = e instanceof TypeError ? TypeError : RangeError;
      throw new E(`${e.message}: give hosts as [user@]address[:port] (e.g. 'bob@n1:2222')`);
    }
    throw e;
  }
}

/** The number of attempts since `countFrom` that use up the retry policy. */
function countedAttempts(j: PoolJob): number {
  let n = 0;
  for (let i = j.countFrom; i < j.attempts.length; i++) {
    const a = j.attempts[i];
    if (a.outcome === null || a.outcome === "done" || a.outcome === "canceled") continue;
    if (!a.infrastructure || j.retry.countInfrastructure) n++;
  }
  return n;
}

let makePool: (j: PoolJournal) => Pool;

/**
 * A pool directory opened by this process. Reading methods bring the state up to date with
 * the journal first (what other processes wrote included); writing methods are one fsynced
 * transaction each, checked against the current state under the lock.
 *
 * @example
 * ```ts
 * import { initPool } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using pool = await initPool(dir, { classes: [{ name: "cpu", slots: 2 }] });
 *   const jobs = await pool.matrix({
 *     class: "cpu",
 *     command: "./bench --threads {t} --size {n}",
 *     matrix: { t: ["1", "2"], n: ["10", "20"] },
 *   });
 *   strictEqual(jobs.length, 4);
 *   await pool.hold([jobs[3].id]);
 *   deepStrictEqual((await pool.jobs({ state: "waiting" })).map((j) => j.vars), [
 *     { t: "1", n: "10" },
 *     { t: "1", n: "20" },
 *     { t: "2", n: "10" },
 *   ]);
 *   strictEqual((await pool.nextWaiting("cpu"))?.id, jobs[0].id); // queue order per class
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Pool implements AsyncDisposable {
  #j!: PoolJournal;

  private constructor() {}

  static {
    makePool = (j) => {
      const p = new Pool();
      p.#j = j;
      return p;
    };
  }

  /** The pool directory. */
  get dir(): string {
    return this.#j.dir;
  }

  #read<T>(fn: (s: PoolState) => T): Promise<T> {
    return this.#j.transact(false, (s) => ({ ops: [], value: fn(s) }));
  }

  #write<T>(fn: (s: PoolState, at: number) => { ops: Op[]; value: T }): Promise<T> {
    return this.#j.transact(true, (s) => fn(s, Date.now()));
  }

  #job(s: PoolState, id: number): PoolJob {
    const j = s.jobs.get(id);
    if (!j) {
      throw new PoolStateError(
        `No job ${id} in the pool '${this.dir}': 'dexp job ls' lists the jobs`,
      );
    }
    return j;
  }

  #machine(s: PoolState, name: string): Machine {
    const m = s.machines.get(name);
    if (!m || m.state === "removed") {
      throw new PoolStateError(
        `No machine '${name}' in the pool '${this.dir}': 'dexp machine ls' lists the machines`,
      );
    }
    return m;
  }

  // ---- reading ----------------------------------------------------------------------------

  /** The sequence number of the last transaction read (grows with every change). */
  get seq(): number {
    return this.#j.state.seq;
  }

  /**
   * Reads what was recorded since the last read.
   *
   * @returns Whether anything changed.
   */
  async refresh(): Promise<boolean> {
    const before = this.#j.cursor;
    await this.#read(() => {});
    const after = this.#j.cursor;
    return before.seq !== after.seq || before.epoch !== after.epoch;
  }

  /**
   * Reports changes by polling the journal (cheap when nothing changed: one stat).
   *
   * @param options `interval` between polls in ms (default 200); `signal` ends the iteration.
   * @returns An iterator that yields after each batch of changes.
   */
  async *changes(
    options: { interval?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<PoolChange> {
    const interval = options.interval ?? 200;
    while (!options.signal?.aborted) {
      if (this.#j.changedSince() && await this.refresh()) yield { seq: this.seq };
      await new Promise<void>((res) => {
        const t = setTimeout(done, interval);
        function done() {
          clearTimeout(t);
          options.signal?.removeEventListener("abort", done);
          res();
        }
        options.signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  /**
   * The pool variables.
   *
   * @returns A copy.
   */
  vars(): Promise<Record<string, string>> {
    return this.#read((s) => ({ ...s.vars }));
  }

  /**
   * The classes, in definition order.
   *
   * @returns The classes.
   */
  classes(): Promise<PoolClass[]> {
    return this.#read((s) => [...s.classes.values()]);
  }

  /**
   * The machines, in order of addition (removed ones only if asked).
   *
   * @param filter `class`, `state`, and `removed: true` to include removed machines.
   * @returns The machines.
   */
  machines(
    filter: { class?: string; state?: MachineState | readonly MachineState[]; removed?: boolean } =
      {},
  ): Promise<Machine[]> {
    const states = filter.state === undefined
      ? undefined
      : new Set(typeof filter.state === "string" ? [filter.state] : filter.state);
    return this.#read((s) =>
      [...s.machines.values()].filter((m) =>
        (filter.removed || states?.has("removed") || m.state !== "removed") &&
        (filter.class === undefined || m.class === filter.class) &&
        (states === undefined || states.has(m.state))
      )
    );
  }

  /**
   * The jobs, in id (queue) order.
   *
   * @param filter See {@linkcode JobFilter}.
   * @returns The jobs (snapshots: later changes do not show in them).
   */
  jobs(filter: JobFilter = {}): Promise<PoolJob[]> {
    const states = filter.state === undefined
      ? undefined
      : new Set(typeof filter.state === "string" ? [filter.state] : filter.state);
    return this.#read((s) => {
      const pick = (j: PoolJob) =>
        (states === undefined || states.has(j.state)) &&
        (filter.class === undefined || j.class === filter.class) &&
        (filter.matrix === undefined || j.matrix === filter.matrix);
      const out: PoolJob[] = [];
      if (filter.ids) {
        for (const id of filter.ids) {
          const j = s.jobs.get(id);
          if (j && pick(j)) out.push({ ...j, attempts: [...j.attempts] });
        }
        return out;
      }
      for (const j of s.jobs.values()) if (pick(j)) out.push({ ...j, attempts: [...j.attempts] });
      return out.sort((a, b) => a.id - b.id);
    });
  }

  /**
   * One job.
   *
   * @param id The job id.
   * @returns The job, or undefined.
   */
  job(id: number): Promise<PoolJob | undefined> {
    return this.#read((s) => {
      const j = s.jobs.get(id);
      return j && { ...j, attempts: [...j.attempts] };
    });
  }

  /**
   * The first waiting job of a class, in queue order (FIFO per class).
   *
   * @param cls The class.
   * @returns The job, or undefined when none waits.
   */
  nextWaiting(cls: string): Promise<PoolJob | undefined> {
    return this.#read((s) => {
      const id = s.waiting.get(cls)?.ids[0];
      const j = id === undefined ? undefined : s.jobs.get(id);
      return j && { ...j, attempts: [...j.attempts] };
    });
  }

  // ---- classes, machines ------------------------------------------------------------------

  /**
   * Defines a class, or replaces its definition (machines and jobs of it stay).
   *
   * @param input The class.
   * @returns The class as recorded.
   * @throws {TypeError | RangeError} For a bad name, slots, environment or duration.
   */
  async defineClass(input: PoolClassInput): Promise<PoolClass> {
    const c = checkClass(input);
    return await this.#write(() => ({ ops: [{ o: "class", c }], value: c }));
  }

  /**
   * Sets the pool variables (replacing them).
   *
   * @param vars Names and values.
   * @returns Resolves when recorded.
   */
  async setVars(vars: Readonly<Record<string, string>>): Promise<void> {
    const v = checkVars(vars);
    return await this.#write(() => ({ ops: [{ o: "vars", vars: v }], value: undefined }));
  }

  /**
   * Adds machines to a class, in state `new` (the dispatcher sets them up).
   *
   * @param cls The class.
   * @param hosts Host strings (`bob@n1:2222`) or host specs.
   * @returns The machines added.
   * @throws {TypeError} For a bad host spec.
   * @throws {RangeError} For an unknown class.
   * @throws {PoolStateError} For a machine already in the pool.
   */
  async addMachines(cls: string, hosts: readonly HostInput[]): Promise<Machine[]> {
    if (hosts.length === 0) throw new TypeError("Give at least one host to add");
    const named = hosts.map((h) => ({ host: h, name: machineName(h) }));
    const seen = new Set<string>();
    for (const n of named) {
      if (seen.has(n.name)) throw new TypeError(`Machine '${n.name}' is given twice: give it once`);
      seen.add(n.name);
    }
    return await this.#write((s, at) => {
      if (!s.classes.has(cls)) throw unknownClass(s, cls);
      const ms: Machine[] = [];
      for (const { host, name } of named) {
        const old = s.machines.get(name);
        if (old && old.state !== "removed") {
          throw new PoolStateError(
            `Machine '${name}' is already in the pool (class '${old.class}'): remove it first with 'dexp machine rm ${name}'`,
          );
        }
        ms.push({
          name,
          host,
          class: cls,
          state: "new",
          reason: null,
          infraFailures: 0,
          setup: null,
          added: at,
          since: at,
        });
      }
      return { ops: ms.map((m) => ({ o: "madd", m })), value: ms };
    });
  }

  #machineState(
    name: string,
    check: (m: Machine) => void,
    next: (m: Machine, at: number) => Omit<Extract<Op, { o: "mstate" }>, "o" | "name" | "at">,
  ): Promise<Machine> {
    return this.#write((s, at) => {
      const m = this.#machine(s, name);
      check(m);
      const op = { o: "mstate" as const, name, at, ...next(m, at) };
      return { ops: [op], value: { ...m } };
    }).then(() => this.#j.state.machines.get(name)!);
  }

  /**
   * Removes a machine: no new job starts on it (jobs running there are the dispatcher's).
   *
   * @param name The machine name.
   * @param reason Why (kept).
   * @returns The machine.
   * @throws {PoolStateError} If there is no such machine.
   */
  removeMachine(name: string, reason = "removed by the user"): Promise<Machine> {
    return this.#machineState(name, () => {}, () => ({ state: "removed", reason }));
  }

  /**
   * Keeps a machine out of its class until released.
   *
   * @param name The machine name.
   * @param reason Why (kept, shown by `dexp machine ls`).
   * @returns The machine.
   */
  quarantine(name: string, reason = "quarantined by the user"): Promise<Machine> {
    return this.#machineState(name, () => {}, () => ({ state: "quarantined", reason }));
  }

  /**
   * Puts a quarantined (or failed-setup) machine back: `ready` if its last setup succeeded,
   * else `new` (set up again). Its infrastructure failure count starts over.
   *
   * @param name The machine name.
   * @returns The machine.
   * @throws {PoolStateError} If it is neither quarantined nor failed in setup.
   */
  release(name: string): Promise<Machine> {
    return this.#machineState(name, (m) => {
      if (m.state !== "quarantined" && m.state !== "setup-failed") {
        throw new PoolStateError(
          `Machine '${name}' is ${m.state}, not quarantined: only a quarantined or setup-failed machine can be released`,
        );
      }
    }, (m) => ({ state: m.setup?.ok ? "ready" : "new", reason: null, infra: 0 }));
  }

  /**
   * Records that a machine's setup started.
   *
   * @param name The machine name.
   * @param info Fingerprint and log path.
   * @returns The machine.
   */
  setupStarted(name: string, info: SetupInfo): Promise<Machine> {
    return this.#machineState(name, () => {}, (_m, at) => ({
      state: "setting-up",
      reason: null,
      setup: {
        fingerprint: info.fingerprint,
        log: info.log ?? null,
        start: at,
        end: null,
        ok: null,
        reason: null,
      },
    }));
  }

  /**
   * Records that a machine's setup succeeded: it joins its class (`ready`).
   *
   * @param name The machine name.
   * @param info Fingerprint and log path.
   * @returns The machine.
   */
  setupSucceeded(name: string, info: SetupInfo): Promise<Machine> {
    return this.#machineState(name, () => {}, (m, at) => ({
      state: "ready",
      reason: null,
      infra: 0,
      setup: {
        fingerprint: info.fingerprint,
        log: info.log ?? m.setup?.log ?? null,
        start: m.setup?.start ?? at,
        end: at,
        ok: true,
        reason: null,
      },
    }));
  }

  /**
   * Records that a machine's setup failed: it stays out (`setup-failed`) with the reason.
   *
   * @param name The machine name.
   * @param info Fingerprint, log path and the reason.
   * @returns The machine.
   */
  setupFailed(name: string, info: SetupInfo & { reason: string }): Promise<Machine> {
    return this.#machineState(name, () => {}, (m, at) => ({
      state: "setup-failed",
      reason: info.reason,
      setup: {
        fingerprint: info.fingerprint,
        log: info.log ?? m.setup?.log ?? null,
        start: m.setup?.start ?? at,
        end: at,
        ok: false,
        reason: info.reason,
      },
    }));
  }

  /**
   * Counts an infrastructure failure of a machine (could not connect, lost job); at `limit`
   * failures since its last success it is quarantined with the reason.
   *
   * @param name The machine name.
   * @param reason What failed.
   * @param limit Failures that quarantine it (default 3).
   * @returns The machine.
   */
  infraFailure(name: string, reason: string, limit = 3): Promise<Machine> {
    return this.#machineState(name, () => {}, (m) => {
      const n = m.infraFailures + 1;
      return n >= limit && m.state !== "removed"
        ? {
          state: "quarantined",
          reason: `${n} infrastructure failures, the last: ${reason}`,
          infra: n,
        }
        : { state: m.state, reason: m.reason, infra: n };
    });
  }

  // ---- jobs -------------------------------------------------------------------------------

  #makeJobs(
    s: PoolState,
    at: number,
    spec: SubmitSpec,
    combos: Record<string, string>[],
    isMatrix: boolean,
  ): { op: Op; jobs: PoolJob[] } {
    if (!s.classes.has(spec.class)) throw unknownClass(s, spec.class);
    const names = new Set<string>(Object.keys(s.vars));
    for (const c of combos) for (const k of Object.keys(c)) names.add(k);
    checkCommand(spec.command, [...names]);
    const outputs = [...(spec.outputs ?? [])];
    for (const o of outputs) {
      if (typeof o !== "string" || o.trim() === "") {
        throw new TypeError("A declared output must be a non-empty path: received an empty one");
      }
      checkCommand(o, [...names]);
    }
    if (outputs.length > 0 && spec.results == null) {
      throw new TypeError(
        `Declared outputs need a results folder to be copied into: give 'results' (--results DIR)`,
      );
    }
    const first = s.nextId;
    const js: JobSpec = {
      class: spec.class,
      command: spec.command,
      ...(outputs.length > 0 ? { outputs } : {}),
      results: spec.results == null ? null : resolve(spec.results),
      timeout: spec.timeout == null ? null : toMillis(spec.timeout, "timeout"),
      retry: {
        attempts: spec.retry?.attempts ?? 1,
        countInfrastructure: spec.retry?.countInfrastructure ?? false,
      },
      reps: spec.repeat ?? 1,
      matrix: isMatrix ? first : null,
      submitted: at,
    };
    return { op: { o: "add", spec: js, first, vars: combos }, jobs: jobsOf(js, first, combos) };
  }

  /**
   * Submits a job (or `repeat` copies of it) at the end of its class's queue.
   *
   * @param spec The job.
   * @returns The jobs added, in queue order.
   * @throws {RangeError} For an unknown class, a command with an unknown `{var}`, a bad
   *   repeat or timeout.
   */
  async submit(spec: SubmitSpec): Promise<PoolJob[]> {
    this.#checkSpecLight(spec);
    return await this.#write((s, at) => {
      const { op, jobs } = this.#makeJobs(s, at, spec, [{}], false);
      return { ops: [op], value: jobs };
    });
  }

  /**
   * Submits the cartesian product of a matrix, one job per combination (times `repeat`), in
   * one transaction: all of them or none.
   *
   * @param spec The job and its matrix.
   * @returns The jobs added, in queue order (the first variable changing slowest).
   * @throws {RangeError} For an unknown class, an empty value list or a command with an
   *   unknown `{var}`.
   */
  async matrix(spec: MatrixSpec): Promise<PoolJob[]> {
    this.#checkSpecLight(spec);
    checkMatrix(spec.matrix);
    const combos = expandMatrix(spec.matrix);
    return await this.#write((s, at) => {
      const { op, jobs } = this.#makeJobs(s, at, spec, combos, true);
      return { ops: [op], value: jobs };
    });
  }

  #checkSpecLight(spec: SubmitSpec): void {
    if (!spec || typeof spec.class !== "string") {
      throw new TypeError("A job needs a 'class': the class of machines it runs on");
    }
    if (typeof spec.command !== "string" || spec.command.trim() === "") {
      throw new TypeError("A job command must be a non-empty shell line: received an empty one");
    }
    const reps = spec.repeat ?? 1;
    if (!Number.isInteger(reps) || reps < 1) {
      throw new RangeError(`'repeat' must be a positive integer: received ${reps}`);
    }
    const att = spec.retry?.attempts ?? 1;
    if (!Number.isInteger(att) || att < 1) {
      throw new RangeError(`'retry.attempts' must be a positive integer: received ${att}`);
    }
    if (spec.timeout != null) toMillis(spec.timeout, "timeout");
  }

  #jobStates(
    ids: readonly number[],
    fn: (j: PoolJob) => Extract<Op, { o: "jstate" }> | null,
  ): Promise<PoolJob[]> {
    return this.#write((s) => {
      const ops: Op[] = [];
      for (const id of ids) {
        const op = fn(this.#job(s, id));
        if (op) ops.push(op);
      }
      return { ops, value: undefined };
    }).then(() => ids.map((id) => ({ ...this.#j.state.jobs.get(id)! })));
  }

  /**
   * Holds waiting jobs: they keep their place but do not start until released.
   *
   * @param ids Job ids.
   * @returns The jobs.
   * @throws {PoolStateError} If a job is not waiting (nothing is recorded then).
   */
  hold(ids: readonly number[]): Promise<PoolJob[]> {
    return this.#jobStates(ids, (j) => {
      if (j.state === "held") return null;
      if (j.state !== "waiting") {
        throw new PoolStateError(`Job ${j.id} is ${j.state}: only a waiting job can be held`);
      }
      return { o: "jstate", id: j.id, state: "held", reason: null, at: Date.now() };
    });
  }

  /**
   * Releases held jobs back to waiting, at their place in the queue.
   *
   * @param ids Job ids.
   * @returns The jobs.
   * @throws {PoolStateError} If a job is not held.
   */
  unhold(ids: readonly number[]): Promise<PoolJob[]> {
    return this.#jobStates(ids, (j) => {
      if (j.state === "waiting") return null;
      if (j.state !== "held") {
        throw new PoolStateError(`Job ${j.id} is ${j.state}: only a held job can be unheld`);
      }
      return { o: "jstate", id: j.id, state: "waiting", reason: null, at: Date.now() };
    });
  }

  /**
   * Cancels jobs. A waiting or held job never starts; a running or copying one is canceled
   * at once in the queue, and the dispatcher ends its command (its attempt stays open until
   * then: {@linkcode Pool.toStop}).
   *
   * @param ids Job ids.
   * @param reason Why (kept).
   * @returns The jobs.
   * @throws {PoolStateError} If a job has ended already (done, failed, lost).
   */
  cancel(ids: readonly number[], reason = "canceled by the user"): Promise<PoolJob[]> {
    return this.#jobStates(ids, (j) => {
      if (j.state === "canceled") return null;
      if (j.state === "done" || j.state === "failed" || j.state === "lost") {
        throw new PoolStateError(
          `Job ${j.id} is ${j.state} already: nothing to cancel ('dexp job retry ${j.id}' runs it again)`,
        );
      }
      return { o: "jstate", id: j.id, state: "canceled", reason, at: Date.now() };
    });
  }

  /**
   * Puts ended jobs (failed, lost, canceled, done) back to waiting, at their place in the
   * queue, with a fresh retry budget. Their earlier attempts are kept.
   *
   * @param ids Job ids.
   * @returns The jobs.
   * @throws {PoolStateError} If a job is waiting, held, running or copying, or its attempt
   *   is still open.
   */
  retry(ids: readonly number[]): Promise<PoolJob[]> {
    return this.#jobStates(ids, (j) => {
      const open = j.attempts.some((a) => a.end === null);
      if (!["failed", "lost", "canceled", "done"].includes(j.state) || open) {
        throw new PoolStateError(
          `Job ${j.id} is ${j.state}${
            open ? " and its command still runs" : ""
          }: only an ended job can be retried (cancel it first)`,
        );
      }
      return {
        o: "jstate",
        id: j.id,
        state: "waiting",
        reason: null,
        at: Date.now(),
        countFrom: j.attempts.length,
      };
    });
  }

  // ---- the dispatcher's operations ---------------------------------------------------------

  /**
   * Claims a waiting job for a slot: it moves to `running` with a new attempt, atomically.
   *
   * @param id The job id.
   * @param where Machine, slot, and the detached job's reference if known.
   * @returns The job, its new attempt last.
   * @throws {PoolStateError} If the job is not waiting (canceled or held meanwhile) or the
   *   machine is not in the pool.
   */
  claim(id: number, where: ClaimSpec): Promise<PoolJob> {
    return this.#write((s, at) => {
      const j = this.#job(s, id);
      if (j.state !== "waiting") {
        throw new PoolStateError(`Job ${id} is ${j.state}, not waiting: it cannot be claimed`);
      }
      return { ops: [this.#claimOp(s, j, where, at)], value: id };
    }).then((i) => this.#copy(i));
  }

  /**
   * Claims the first waiting job of a class (FIFO per class) for a slot, atomically.
   *
   * @param cls The class.
   * @param where Machine, slot, and the detached job's reference if known.
   * @returns The job, its new attempt last; null when none waits.
   */
  claimNext(cls: string, where: ClaimSpec): Promise<PoolJob | null> {
    return this.#write((s, at) => {
      const id = s.waiting.get(cls)?.ids[0];
      if (id === undefined) return { ops: [], value: null };
      return { ops: [this.#claimOp(s, s.jobs.get(id)!, where, at)], value: id };
    }).then((i) => i === null ? null : this.#copy(i));
  }

  #claimOp(s: PoolState, j: PoolJob, where: ClaimSpec, at: number): Op {
    const m = this.#machine(s, where.machine);
    if (m.class !== j.class) {
      throw new PoolStateError(
        `Job ${j.id} is of class '${j.class}', machine '${m.name}' of class '${m.class}'`,
      );
    }
    const a: Attempt = {
      machine: where.machine,
      slot: String(where.slot),
      ref: where.ref ?? null,
      start: at,
      ran: null,
      end: null,
      outcome: null,
      reason: null,
      exitCode: null,
      infrastructure: false,
      results: null,
    };
    return { o: "claim", id: j.id, a, at };
  }

  #copy(id: number): PoolJob {
    const j = this.#j.state.jobs.get(id)!;
    return { ...j, attempts: [...j.attempts] };
  }

  #openAttempt(s: PoolState, id: number, n: number): PoolJob {
    const j = this.#job(s, id);
    const a = j.attempts[n];
    if (!a) throw new PoolStateError(`Job ${id} has no attempt ${n}`);
    if (a.end !== null) throw new PoolStateError(`Attempt ${n} of job ${id} has ended already`);
    return j;
  }

  /**
   * Records the detached job that runs an attempt.
   *
   * @param id The job id.
   * @param attempt The attempt's index (0-based).
   * @param ref The reference.
   * @returns The job.
   */
  setAttemptRef(id: number, attempt: number, ref: JobRef): Promise<PoolJob> {
    return this.#write((s) => {
      this.#openAttempt(s, id, attempt);
      return { ops: [{ o: "aref", id, n: attempt, ref }], value: id };
    }).then((i) => this.#copy(i));
  }

  /**
   * Records that an attempt's command ended and its results are being copied back
   * (`running` -> `copying`; a canceled job stays canceled).
   *
   * @param id The job id.
   * @param attempt The attempt's index.
   * @param exitCode The command's exit code, if it exited.
   * @returns The job.
   */
  startCopying(id: number, attempt: number, exitCode: number | null = null): Promise<PoolJob> {
    return this.#write((s, at) => {
      this.#openAttempt(s, id, attempt);
      return { ops: [{ o: "copying", id, n: attempt, at, exitCode }], value: id };
    }).then((i) => this.#copy(i));
  }

  /**
   * Ends an attempt. `done` makes the job done; `failed` or `lost` send it back to waiting
   * if its retry policy allows another attempt (infrastructure failures count only if the
   * policy says so), else it ends in that state; a job canceled meanwhile stays canceled.
   * A successful attempt resets the machine's infrastructure failure count.
   *
   * @param id The job id.
   * @param attempt The attempt's index.
   * @param end How it ended.
   * @returns The job, in its new state.
   * @throws {PoolStateError} If the attempt has ended already.
   */
  finishAttempt(id: number, attempt: number, end: AttemptEnd): Promise<PoolJob> {
    return this.#write((s, at) => {
      const j = this.#openAttempt(s, id, attempt);
      const infrastructure = end.infrastructure ?? end.outcome === "lost";
      let state: JobState;
      let jobReason: string | null = end.reason ?? null;
      if (j.state === "canceled") {
        state = "canceled";
        jobReason = j.reason;
      } else if (end.outcome === "done") {
        state = "done";
        jobReason = null;
      } else if (end.outcome === "canceled") {
        state = "canceled";
      } else {
        const counts = !infrastructure || j.retry.countInfrastructure;
        const used = countedAttempts(j) + (counts ? 1 : 0);
        state = used < j.retry.attempts || !counts ? "waiting" : end.outcome;
        if (state === "waiting") jobReason = null;
      }
      const ops: Op[] = [{
        o: "end",
        id,
        n: attempt,
        at,
        outcome: end.outcome,
        reason: end.reason ?? null,
        exitCode: end.exitCode ?? null,
        infrastructure,
        results: end.results ?? null,
        state,
        jobReason,
      }];
      const m = s.machines.get(j.attempts[attempt].machine);
      if (end.outcome === "done" && m && m.infraFailures > 0) {
        ops.push({ o: "mstate", name: m.name, state: m.state, reason: m.reason, at, infra: 0 });
      }
      return { ops, value: id };
    }).then((i) => this.#copy(i));
  }

  /**
   * Jobs whose attempt is open (running or copying) but which were canceled: the dispatcher
   * ends their commands, then calls {@linkcode Pool.finishAttempt}.
   *
   * @returns The jobs.
   */
  toStop(): Promise<PoolJob[]> {
    return this.#read((s) => {
      const out: PoolJob[] = [];
      for (const j of s.jobs.values()) {
        if (j.state === "canceled" && j.attempts.length && j.attempts.at(-1)!.end === null) {
          out.push({ ...j, attempts: [...j.attempts] });
        }
      }
      return out;
    });
  }

  // ---- results ----------------------------------------------------------------------------

  /**
   * A table of jobs for analysis: id, class, each matrix variable as a column, then state,
   * attempts, machine, slot, exit code, outcome, duration (ms) and the results path.
   *
   * @param filter Which jobs (see {@linkcode JobFilter}).
   * @returns The columns and rows.
   */
  async stat(filter: JobFilter = {}): Promise<PoolStat> {
    const jobs = await this.jobs(filter);
    const vars: string[] = [];
    const seen = new Set<string>();
    for (const j of jobs) {
      for (const k of Object.keys(j.vars)) {
        if (!seen.has(k)) {
          seen.add(k);
          vars.push(k);
        }
      }
    }
    const columns = [
      "id",
      "class",
      ...vars,
      "rep",
      "state",
      "attempts",
      "machine",
      "slot",
      "exit_code",
      "outcome",
      "duration_ms",
      "results",
      "reason",
    ];
    const rows = jobs.map((j) => {
      const a = j.attempts.at(-1);
      const row: StatRow = { id: j.id, class: j.class };
      for (const k of vars) row[k] = j.vars[k] ?? null;
      row.rep = j.rep;
      row.state = j.state;
      row.attempts = j.attempts.length;
      row.machine = a?.machine ?? null;
      row.slot = a?.slot ?? null;
      row.exit_code = a?.exitCode ?? null;
      row.outcome = a?.outcome ?? null;
      row.duration_ms = a
        ? (a.ran ?? a.end ?? null) === null ? null : (a.ran ?? a.end)! - a.start
        : null;
      row.results = a?.results ?? (j.results === null ? null : `${j.results}/${j.id}`);
      row.reason = j.reason ?? a?.reason ?? null;
      return row;
    });
    return { columns, rows };
  }

  /**
   * Runs the pool's dispatcher in this process: machines' setups and the queue's jobs as
   * detached jobs, until `signal` stops it (or, with `until: "idle"`, until nothing waits,
   * runs or copies). At most one per pool directory.
   *
   * @param options Stop signal, poll interval, `until`, quarantine threshold (see `ServeOptions`).
   * @returns Resolves when stopped.
   * @throws {DispatcherBusyError} If another dispatcher serves this directory.
   */
  serve(options: Partial<ServeOptions> = {}): Promise<void> {
    return servePool(this, options);
  }

  /** Waits for pending operations of this handle and closes it. */
  close(): Promise<void> {
    return this.#j.close();
  }

  /** Same as {@linkcode Pool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens an existing pool directory.
 *
 * @param dir The directory made by {@linkcode initPool} or `dexp pool init`.
 * @param options See {@linkcode OpenPoolOptions}.
 * @returns The pool, read up to date.
 * @throws {Deno.errors.NotFound} If there is no pool in `dir`.
 * @throws {PoolFormatError} If the pool was written by a newer dexp, or is damaged.
 *
 * @example
 * ```ts
 * import { initPool, openPool } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const dir = await Deno.makeTempDir();
 * await (await initPool(dir, { classes: [{ name: "cpu", slots: 2 }] })).close();
 * {
 *   await using pool = await openPool(dir);
 *   await pool.submit({ class: "cpu", command: "echo {job} on {host}" });
 *   strictEqual((await pool.jobs()).length, 1);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openPool(dir: string, options: OpenPoolOptions = {}): Promise<Pool> {
  const pool = makePool(PoolJournal.open(dir, options));
  await pool.refresh();
  return pool;
}

/**
 * Creates a pool directory (the directory may exist; it must hold no pool yet).
 *
 * @param dir The directory.
 * @param options Classes and pool variables to start with.
 * @returns The pool, open.
 * @throws {PoolStateError} If `dir` holds a pool already.
 * @throws {TypeError | RangeError} For a bad class or variable.
 *
 * @example
 * ```ts
 * import { initPool } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using pool = await initPool(dir, { classes: [{ name: "gpu", slots: ["0", "1"] }] });
 *   strictEqual((await pool.classes())[0].name, "gpu");
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function initPool(dir: string, options: InitPoolOptions = {}): Promise<Pool> {
  const classes = (options.classes ?? []).map(checkClass);
  const names = new Set<string>();
  for (const c of classes) {
    if (names.has(c.name)) throw new TypeError(`Class '${c.name}' is given twice`);
    names.add(c.name);
  }
  const vars = checkVars(options.vars ?? {});
  for (const f of ["pool.json", "journal"]) {
    try {
      Deno.lstatSync(`${dir}/${f}`);
      throw new PoolStateError(
        `'${dir}' holds a pool already: open it (openPool, or --pool ${dir}), or choose another directory`,
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const ops: Op[] = classes.map((c) => ({ o: "class", c }));
  if (Object.keys(vars).length) ops.push({ o: "vars", vars });
  createPoolFiles(dir, ops);
  return await openPool(dir, options);
}
