/**
 * `Job`: a handle on one detached job on one host; any process that has its reference can
 * make one (`attachJobs`).
 *
 * @module
 */

import { type Duration, Settled, toMillis } from "../process/mod.ts";
import {
  DEFAULT_CAPTURE_LIMIT,
  DEFAULT_KILL_GRACE,
  errorFor,
  type FailureKind,
  ProcessResult,
  type Target,
} from "../process/mod.ts";
import { byHost, failureText, runScripts, sleep, statuses } from "./_batch.ts";
import { isJobHost } from "./job_host.ts";
import { checkJobRef, type JobRef, targetOfRef } from "./job_ref.ts";
import type { JobStatus } from "./job_status.ts";
import { checkJobId, checkRemotePath } from "./names.ts";
import { forgetScript, killScript, readScript, resultScript } from "./supervisor.ts";

/** Options of {@linkcode Job.wait} and {@linkcode Job.result}. */
export interface WaitOptions {
  /** Time between status polls: ms or text like `"5s"` (default 1 s). */
  readonly interval?: Duration;
  /** Stops waiting (rejects with the signal's reason); the job keeps running. */
  readonly signal?: AbortSignal;
  /** Bytes of each stream kept in the result (head and tail; default 1 MiB). */
  readonly captureLimit?: number;
}

/** Options of {@linkcode Job.output} and {@linkcode Job.follow}. */
export interface OutputOptions {
  /** Byte offset to start at (default 0). */
  readonly from?: number;
  /** Which stream (default `stdout`). */
  readonly stream?: "stdout" | "stderr";
  /** Most bytes per read (default 1 MiB): bounds the memory a follow holds at once. */
  readonly chunk?: number;
}

/** What a follow did in one read: see {@linkcode FollowOptions.onRead}. */
export interface FollowRead {
  /** The offset the read started at. */
  readonly from: number;
  /** The bytes it gave. */
  readonly bytes: number;
  /**
   * The bytes the follow holds right after the read: the read's answer as received (base64
   * text, UTF-16 code units) and the decoded bytes. Nothing of earlier reads: the follow
   * keeps only the offset, and lets a chunk go once the consumer asks for the next one.
   */
  readonly held: number;
}

/** Options of {@linkcode Job.follow}. */
export interface FollowOptions extends OutputOptions {
  /** Time between polls when no new output came: ms or text like `"1s"` (default 500 ms). */
  readonly interval?: Duration;
  /** Stops following. */
  readonly signal?: AbortSignal;
  /** Called after every read (progress, or a check that the memory held stays bounded). */
  readonly onRead?: (read: FollowRead) => void;
}

/** A window of a job's output. */
export interface OutputChunk {
  /** The bytes read. */
  readonly data: Uint8Array;
  /** Offset after them: pass it as `from` to read on. */
  readonly next: number;
  /** The file's size when read. */
  readonly size: number;
  /** The job had ended before the read, and `next` is the end of the file. */
  readonly done: boolean;
}

/** Options of {@linkcode Job.kill}. */
export interface KillOptions {
  /** Time between the signal and SIGKILL: ms or text like `"5s"` (default 2 s). */
  readonly grace?: Duration;
  /** How long to wait for the supervisor to record the end: ms or text (default 30 s). */
  readonly settle?: Duration;
}

const KILL_SIGNALS = new Set(["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2"]);

/**
 * Checks a signal for `kill()`.
 *
 * @param signal E.g. `SIGTERM`.
 * @returns The name without `SIG`.
 * @throws {TypeError} If it is not one dexp sends.
 */
export function killSignal(signal: string): string {
  const s = signal.replace(/^SIG/, "");
  if (!KILL_SIGNALS.has(s)) {
    throw new TypeError(
      `'signal' must be one of ${[...KILL_SIGNALS].map((x) => "SIG" + x).join(", ")}: received ${
        JSON.stringify(signal)
      }`,
    );
  }
  return s;
}

function positive(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`'${what}' must be a positive integer: received ${n}`);
  }
  return n;
}

function positiveMs(d: Duration, what: string): number {
  const ms = Math.ceil(toMillis(d, what));
  if (ms <= 0) throw new RangeError(`'${what}' must be a positive Duration: received ${d}`);
  return ms;
}

function nonNegative(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`'${what}' must be a non-negative integer: received ${n}`);
  }
  return n;
}

const decoder = new TextDecoder();

/** Bytes the host sent as base64 (`base64` output: line breaks are skipped). */
function base64(text: string, job: { id: string; target: { label: string } }): Uint8Array {
  try {
    return Uint8Array.fromBase64(text);
  } catch (e) {
    throw new Error(
      `Job ${job.id} on ${job.target.label} sent output that is not base64 (${
        (e as Error).message
      }): its host's reply was cut or mangled; read it again`,
    );
  }
}

/**
 * A detached job on one host. Cheap to make: nothing runs until a method is called.
 *
 * @example
 * ```ts
 * import { detach, local } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const [job] = (await detach(local(1).run("echo done"), { name: "one", root })).jobs;
 * const r = await job.wait();
 * strictEqual(r.text(), "done");
 * strictEqual((await job.status()).state, "exited");
 * await job.forget();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class Job extends Settled<ProcessResult, WaitOptions> {
  /** Where it runs. */
  readonly target: Target;
  /** Its reference: store `JSON.stringify(job.ref)` to take the job back later. */
  readonly ref: JobRef;

  /**
   * Makes a handle from a reference; prefer {@linkcode attachJobs}.
   *
   * @param ref The reference.
   * @param target The target it points at (made from the reference if not given).
   * @throws {TypeError} If the reference is malformed.
   */
  constructor(ref: JobRef, target?: Target) {
    super();
    this.ref = checkJobRef(ref);
    this.target = target ?? targetOfRef(ref);
  }

  /** The job id (its folder name on the host). */
  get id(): string {
    return checkJobId(this.ref.id);
  }

  /** The folder that holds the job folders on the host. */
  get root(): string {
    return checkRemotePath(this.ref.root, "'root'");
  }

  /** The job's folder on the host (`~/` not expanded). */
  get dir(): string {
    return `${this.root}/${this.id}`;
  }

  /**
   * Asks the host for the job's state (one round trip).
   *
   * @returns The state; `unknown` when the host cannot be reached.
   */
  async status(): Promise<JobStatus> {
    return (await statuses([this]))[0];
  }

  /**
   * Waits until the job ended and returns its result, as for an attached command: exit
   * code or signal, output (head and tail), start and end. A lost job gives failure `lost`.
   * Never rejects for the job's own failure. While the host cannot be reached (`unknown`) it
   * keeps polling: pass `signal` to give up.
   *
   * @param options Poll interval, abort signal, capture limit.
   * @returns The result.
   */
  async result(options: WaitOptions = {}): Promise<ProcessResult> {
    const interval = positiveMs(options.interval ?? 1000, "interval");
    let st = await this.status();
    while (st.state === "running" || st.state === "unknown") {
      await sleep(interval, options.signal);
      st = await this.status();
    }
    return await this.#resultFor(st, options.captureLimit ?? DEFAULT_CAPTURE_LIMIT);
  }

  /**
   * The error a failed job means, for `wait()` (which rejects like an attached command):
   * exit code, signal, lost; not when dexp killed it.
   *
   * @param r The job's result.
   * @returns The error, or undefined.
   */
  protected failureOf(r: ProcessResult): Error | undefined {
    return r.failure && r.failure !== "killed" ? errorFor(r) : undefined;
  }

  /**
   * Builds the result of an ended job (one round trip).
   *
   * @param st Its final state.
   * @param limit Bytes of each stream kept.
   * @returns The result.
   */
  async #resultFor(st: JobStatus, limit: number): Promise<ProcessResult> {
    const [r] = await runScripts([this.target], [
      resultScript(this, positive(limit, "captureLimit")),
    ]);
    if (!r.ok && st.state !== "lost") {
      throw new Error(
        `Cannot read the result of job ${this.id} on ${this.target.label}: ${failureText(r)}`,
      );
    }
    // A lost job whose host cannot be asked (its Slurm allocation ended): no output to read.
    const lines = r.ok ? r.stdout.split("\n") : ["gone"];
    const get = (prefix: string) => {
      const l = lines.find((x) => x.startsWith(prefix + " "));
      return l === undefined ? null : l.slice(prefix.length + 1);
    };
    const b64 = (s: string | null) => s ? base64(s, this) : new Uint8Array();
    const stream = (name: string) => {
      const size = Number(get(`size ${name}`) ?? 0);
      const all = get(`all ${name}`);
      if (all !== null) return { text: decoder.decode(b64(all)), size };
      const head = decoder.decode(b64(get(`head ${name}`)));
      const tail = decoder.decode(b64(get(`tail ${name}`)));
      const dropped = size - Math.ceil(limit / 2) - Math.floor(limit / 2);
      return { text: `${head}\n[... dexp dropped ${dropped} bytes of output ...]\n${tail}`, size };
    };
    const gone = lines[0] === "gone";
    const out = gone ? { text: "", size: 0 } : stream("stdout");
    const err = gone ? { text: "", size: 0 } : stream("stderr");
    const command = gone ? `<job ${this.id}>` : decoder.decode(b64(get("cmd")));
    let exitCode: number | null = null;
    let signal: Deno.Signal | null = null;
    let killed = false;
    let failure: FailureKind | null = null;
    let reason: string | null = null;
    let end: Date | null = null;
    switch (st.state) {
      case "exited":
        exitCode = st.code;
        failure = st.code === 0 ? null : "exit";
        end = st.end;
        break;
      case "killed":
        signal = st.signal;
        killed = st.byDexp;
        failure = st.byDexp ? "killed" : "signal";
        end = st.end;
        break;
      case "lost":
        failure = "lost";
        reason = `${st.reason}: ${st.detail}`;
        break;
      default:
        throw new Error(`Job ${this.id} on ${this.target.label} has not ended: ${st.state}`);
    }
    const created = Number(get("created") ?? NaN);
    const start = Number.isFinite(created) ? new Date(created) : (end ?? new Date());
    return new ProcessResult({
      target: this.target.label,
      command,
      exitCode,
      signal,
      stdout: out.text,
      stderr: err.text,
      stdoutBytes: out.size,
      stderrBytes: err.size,
      start,
      end: end ?? new Date(),
      timedOut: false,
      killed,
      failure,
      reason,
    });
  }

  /**
   * Reads a window of the job's output (one round trip).
   *
   * @param options `from` (byte offset), `stream`, `chunk` (most bytes).
   * @returns The bytes, the next offset, and whether the output is complete.
   * @throws {Error} If the host cannot be reached or the job folder is gone.
   */
  async output(options: OutputOptions = {}): Promise<OutputChunk> {
    return (await this.#read(options)).chunk;
  }

  /** One read of {@linkcode output}, with the length of the text the host answered. */
  async #read(options: OutputOptions): Promise<{ chunk: OutputChunk; text: number }> {
    const from = nonNegative(options.from ?? 0, "from");
    const chunk = positive(options.chunk ?? 1024 * 1024, "chunk");
    const stream = options.stream ?? "stdout";
    if (stream !== "stdout" && stream !== "stderr") {
      throw new TypeError(
        `'stream' must be "stdout" or "stderr": received ${JSON.stringify(stream)}`,
      );
    }
    const [r] = await runScripts(
      [this.target],
      [readScript(this, stream, from, chunk)],
      Math.ceil(chunk * 4 / 3) + 4096,
    );
    if (!r.ok) {
      throw new Error(
        `Cannot read the output of job ${this.id} on ${this.target.label}: ${failureText(r)}`,
      );
    }
    const lines = r.stdout.split("\n");
    if (lines[0] === "gone") {
      throw new Error(`Job ${this.id} on ${this.target.label} is gone: its folder was removed`);
    }
    const ended = lines[0] === "state done";
    const size = Number((lines[1] ?? "").replace(/^size /, "")) || 0;
    const data = base64(lines[2] ?? "", this);
    const next = from + data.length;
    return { chunk: { data, next, size, done: ended && next >= size }, text: r.stdout.length };
  }

  /**
   * Follows the job's output like `tail -f`: yields new bytes as they come, from an offset,
   * until the job ended and everything was read. Holds at most one chunk in memory (one read's
   * answer and its bytes), which `onRead` reports after every read.
   *
   * @param options `from`, `stream`, `chunk`, `interval`, `signal`.
   * @returns The chunks, in order.
   */
  async *follow(options: FollowOptions = {}): AsyncGenerator<Uint8Array> {
    const interval = positiveMs(options.interval ?? 500, "interval");
    let from = options.from ?? 0;
    while (true) {
      options.signal?.throwIfAborted();
      const { chunk: c, text } = await this.#read({ ...options, from });
      options.onRead?.({ from, bytes: c.data.length, held: text + c.data.length });
      from = c.next;
      if (c.data.length > 0) yield c.data;
      if (c.done) return;
      if (c.next >= c.size) {
        // Nothing new: if the job is not running any more, read once more and stop.
        await sleep(interval, options.signal);
      }
    }
  }

  /**
   * Ends the job's whole session on the host (background children too): the signal, then
   * SIGKILL after the grace period; waits until the supervisor recorded the end.
   *
   * @param signal The first signal (default SIGTERM).
   * @param options `grace` before SIGKILL, `settle` time to wait for the record.
   * @returns The final state.
   * @throws {TypeError} If the signal is not one dexp sends.
   */
  async kill(signal: Deno.Signal = "SIGTERM", options: KillOptions = {}): Promise<JobStatus> {
    return (await killJobs([this], signal, options))[0];
  }

  /**
   * Kills the job if it runs, then removes its folder: nothing of it is left on the host.
   *
   * @returns Resolves when the folder is gone.
   */
  async forget(): Promise<void> {
    await forgetJobs([this]);
  }

  /** The reference as JSON. */
  toJSON(): JobRef {
    return this.ref;
  }
}

/**
 * Kills jobs: one kill script per host, then waits for their final states.
 *
 * @param jobs The jobs.
 * @param signal The first signal.
 * @param options Grace and settle times.
 * @returns The final states, in order.
 *
 * @example
 * ```ts
 * import { detach, killJobs, local } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const { jobs } = await detach(local(2).run("sleep 60"), { name: "sleepy", root });
 * const states = await killJobs(jobs, "SIGTERM");
 * deepStrictEqual(states.map((s) => s.state), ["killed", "killed"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function killJobs(
  jobs: readonly Job[],
  signal: Deno.Signal = "SIGTERM",
  options: KillOptions = {},
): Promise<JobStatus[]> {
  const sig = killSignal(signal);
  const grace = Math.ceil(toMillis(options.grace ?? DEFAULT_KILL_GRACE, "grace"));
  const settle = Math.ceil(toMillis(options.settle ?? 30_000, "settle"));
  const groups = byHost(jobs);
  const results = await runScripts(
    groups.map((g) => g.target),
    groups.map((g) => killScript(g.jobs, sig, grace)),
  );
  for (const [i, r] of results.entries()) {
    if (!r.ok && !(await endedHost(groups[i].target))) {
      throw new Error(
        `Cannot kill jobs on ${groups[i].target.label}: ${failureText(r)}`,
      );
    }
  }
  const deadline = Date.now() + settle;
  let st = await statuses(jobs);
  while (st.some((s) => s.state === "running") && Date.now() < deadline) {
    await sleep(100);
    st = await statuses(jobs);
  }
  await endLocal(groups, false);
  return st;
}

/** Whether the target is a job host whose jobs can no longer run (nothing to reach there). */
async function endedHost(target: Target): Promise<boolean> {
  return isJobHost(target) && (await target.jobsEnded().catch(() => null)) !== null;
}

/** Lets job hosts end (and with `remove`, remove) what they keep here for ended jobs. */
async function endLocal(groups: { target: Target; jobs: Job[] }[], remove: boolean): Promise<void> {
  await Promise.all(groups.map(async (g) => {
    const t = g.target;
    if (isJobHost(t)) {
      const st = await statuses(g.jobs);
      // Only for jobs that ended: a running job's start must go on holding it.
      const ids = g.jobs.filter((_, i) => st[i].state !== "running" && st[i].state !== "unknown")
        .map((j) => j.id);
      if (ids.length) await t.endDetached(ids, remove);
    }
  }));
}

/**
 * Kills the jobs that still run, then removes their folders.
 *
 * @param jobs The jobs.
 * @returns Resolves when every folder is gone.
 * @throws {Error} If a host cannot be reached.
 *
 * @example
 * ```ts
 * import { detach, forgetJobs, listJobs, local } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const slot = local(1);
 * const { jobs } = await detach(slot.run("true"), { name: "short", root });
 * await forgetJobs(jobs); // kills what still runs, then removes the jobs' files
 * strictEqual((await listJobs(slot, { root })).length, 0);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function forgetJobs(jobs: readonly Job[]): Promise<void> {
  const st = await statuses(jobs);
  const running = jobs.filter((_, i) => st[i].state === "running" || st[i].state === "lost");
  if (running.length) await killJobs(running, "SIGTERM", { settle: 5000 });
  const groups = byHost(jobs);
  const results = await runScripts(
    groups.map((g) => g.target),
    groups.map((g) => forgetScript(g.jobs)),
  );
  for (const [i, r] of results.entries()) {
    if (!r.ok && !(await endedHost(groups[i].target))) {
      throw new Error(`Cannot forget jobs on ${groups[i].target.label}: ${failureText(r)}`);
    }
  }
  await endLocal(groups, true);
}
