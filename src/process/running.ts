/**
 * A running local process: streams, timeout, kill of the whole tree, stdin, expect.
 *
 * @module
 */

import { type Duration, formatDuration, toMillis } from "./duration.ts";
import { Running } from "./awaitable.ts";
import { BoundedCapture } from "./capture.ts";
import { errorFor, ExpectError } from "./errors.ts";
import { LineSplitter } from "./lines.ts";
import type {
  CommandOptions,
  FileSink,
  LineHandler,
  LineInfo,
  OutputSink,
  StreamName,
} from "./options.ts";
import { fillPlaceholders } from "./placeholders.ts";
import { quoteArgv } from "./quote.ts";
import { type Stoppable, track, untrack } from "./reaper.ts";
import { killMembers, signalTree, type TreeMember } from "./tree.ts";
import { type FailureKind, ProcessResult } from "./result.ts";
import { type Launch, LaunchError, type StreamFilter, type Target } from "./target.ts";
import { dirname } from "./path.ts";

/** What `expect()` found. */
export interface ExpectMatch {
  /** The whole matching line. */
  readonly line: string;
  /** The regular expression match, or null when the pattern was a string. */
  readonly match: RegExpMatchArray | null;
  /** The stream the line came from. */
  readonly stream: StreamName;
}

/** Options of `expect()`. */
export interface ExpectOptions {
  /** Give up after this long (ms or text like `"10s"`; default: until the process ends). */
  timeout?: Duration;
  /** Which stream to watch (default: both). */
  stream?: StreamName | "any";
}

/** How a process is started, beyond the command's own options. */
export interface ExecuteContext {
  /** Index of the target in its group, for handlers and `{i}` placeholders. */
  readonly index: number;
  /** Values for placeholders in file paths (`{host}`, `{i}`, ...). */
  readonly vars: Readonly<Record<string, string>>;
  /** Keep recent lines so that `expect()` can be used (spawned processes). */
  readonly keepLines: boolean;
}

interface Waiter {
  test(line: string): RegExpMatchArray | null | true;
  stream: StreamName | "any";
  resolve(m: ExpectMatch): void;
  reject(e: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  pattern: string;
}

const HISTORY_LINES = 1000;
const HISTORY_LINE_CHARS = 64 * 1024;
const encoder = new TextEncoder();

function describe(command: string | readonly string[]): string {
  return typeof command === "string" ? command : quoteArgv(command);
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await file.write(data.subarray(at));
}

async function openSinks(sinks: readonly FileSink[], vars: Record<string, string>) {
  const files: Deno.FsFile[] = [];
  try {
    for (const s of sinks) {
      const path = fillPlaceholders(s.path, vars);
      await Deno.mkdir(dirname(path), { recursive: true });
      files.push(
        await Deno.open(path, {
          write: true,
          create: true,
          append: s.append,
          truncate: !s.append,
        }),
      );
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  return files;
}

/**
 * A process that has been started. Await it (or call `wait()`) for its
 * {@linkcode ProcessResult}; `kill()` ends it and everything it started.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const server = cmd("echo listening; sleep 60").quiet().spawn();
 * const seen = await server.expect(/listen/);
 * strictEqual(seen.line, "listening");
 * await server.kill(); // TERM, then KILL after the grace period
 * const r = await server.result();
 * strictEqual(r.killed, true);
 * strictEqual(r.ok, false);
 * ```
 */
export class RunningProcess extends Running<ProcessResult> implements Stoppable {
  /** `local` or the host's name. */
  readonly target: string;
  /** The command, as a shell line. */
  readonly command: string;
  readonly #spec: string | readonly string[];
  readonly #targetObj: Target;
  readonly #opts: CommandOptions;
  readonly #ctx: ExecuteContext;
  #launch?: Launch;
  #child?: Deno.ChildProcess;
  #stdinWriter?: WritableStreamDefaultWriter<Uint8Array>;
  #killRequested = false;
  #timedOut = false;
  #remoteSignal: Deno.Signal | null = null;
  #stopping?: Promise<void>;
  #finished = false;
  #history: { line: string; stream: StreamName }[] = [];
  #lazy: Partial<
    Record<StreamName, { capture: BoundedCapture; splitter: LineSplitter | null; ended: boolean }>
  > = {};
  #linesWanted = false;
  #waiters = new Set<Waiter>();
  #handlerError = false;
  #sinkError: string | null = null;
  #members: TreeMember[] = [];
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  readonly #started: Promise<void>;
  #resolveStarted!: () => void;
  #ioDone!: Promise<void>;
  readonly #done: Promise<ProcessResult>;
  readonly #trace: Error;

  /**
   * Starts a process; use `cmd(...).spawn()` or a group's `spawn()` instead.
   *
   * @param target Where it runs.
   * @param command The command.
   * @param opts The command's settings.
   * @param ctx Group index and placeholder values.
   * @internal
   */
  constructor(
    target: Target,
    command: string | readonly string[],
    opts: CommandOptions,
    ctx: ExecuteContext,
  ) {
    super();
    this.#targetObj = target;
    this.target = target.label;
    this.#spec = command;
    this.command = describe(command);
    this.#opts = opts;
    this.#ctx = ctx;
    // Only the trace is captured (cheap); its call site is read if the command fails.
    this.#trace = new Error();
    this.#started = new Promise((r) => this.#resolveStarted = r);
    this.#done = this.#run();
    // Callers get the result through result()/wait(); never an unhandled rejection.
    this.#done.catch(() => {});
  }

  /** The local process id (of `ssh` for a remote command), once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the process has finished and its result is known. */
  get finished(): boolean {
    return this.#finished;
  }

  async #run(start = new Date()): Promise<ProcessResult> {
    const opts = this.#opts;
    const fail = (failure: FailureKind, reason: string, stderr = "") => {
      this.#resolveStarted();
      return this.#finish(
        ProcessResult.notStarted({
          target: this.target,
          command: this.command,
          failure,
          reason,
          stderr,
          start,
        }),
      );
    };

    const vars = { host: this.target, i: String(this.#ctx.index), ...this.#ctx.vars };
    let launch: Launch;
    try {
      launch = await this.#targetObj.launch({
        command: this.#spec,
        env: opts.env,
        cwd: opts.cwd,
        vars,
      });
    } catch (e) {
      if (e instanceof LaunchError) return fail(e.failure, e.message, e.stderr);
      return fail("spawn", (e as Error).message);
    }
    if (this.#killRequested) {
      launch.onEnd?.(null);
      return fail("killed", "killed before it started");
    }
    this.#launch = launch;

    let outFiles: Deno.FsFile[] = [];
    let errFiles: Deno.FsFile[] = [];
    try {
      outFiles = await openSinks(opts.stdoutFiles, vars);
      errFiles = await openSinks(opts.stderrFiles, vars);
    } catch (e) {
      for (const f of outFiles) f.close();
      launch.onEnd?.(null);
      return fail("spawn", `Could not open an output file: ${(e as Error).message}`);
    }

    const stdin = opts.stdin;
    const prefix = launch.stdinPrefix;
    const stdinMode = prefix ? "piped" : stdin === "null" || stdin === "inherit" ? stdin : "piped";
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(launch.program, {
        args: launch.args as string[],
        env: launch.env as Record<string, string> | undefined,
        cwd: launch.cwd,
        stdin: stdinMode,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      for (const f of [...outFiles, ...errFiles]) f.close();
      launch.onEnd?.(null);
      const err = e as Error;
      const reason = err instanceof Deno.errors.NotFound
        ? `program '${launch.program}' not found (check the name and PATH)${
          launch.cwd ? ` or working directory '${launch.cwd}' does not exist` : ""
        }`
        : err.message;
      return fail("spawn", reason);
    }
    this.#child = child;
    track(this);
    this.#resolveStarted();
    launch.onSpawn?.(() => this.forceKill());

    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.timeout !== undefined) {
      timer = setTimeout(() => {
        this.#timedOut = true;
        this.#stop("SIGTERM");
      }, opts.timeout);
    }

    let stopStdin = () => {};
    if (stdinMode === "piped") {
      const writer = child.stdin.getWriter();
      // Queued ahead of anything the user writes.
      if (prefix) writer.write(prefix).catch(() => {});
      if (stdin === "piped") {
        this.#stdinWriter = writer;
      } else if (stdin === "null") {
        writer.close().catch(() => {}).finally(() => writer.releaseLock());
      } else if (stdin === "inherit") {
        stopStdin = pumpStdin(writer);
      } else {
        const data = typeof stdin === "string"
          ? encoder.encode(stdin)
          : stdin instanceof Uint8Array
          ? stdin
          : encoder.encode((stdin as readonly string[]).map((l) => l + "\n").join(""));
        writer.write(data).then(() => writer.close()).catch(() => {}).finally(() => {
          writer.releaseLock();
        });
      }
    }

    const out = new BoundedCapture(opts.captureLimit);
    const err = new BoundedCapture(opts.captureLimit);
    const pumps = Promise.all([
      this.#pump(
        child.stdout,
        "stdout",
        out,
        outFiles,
        opts.stdoutHandlers,
        undefined,
        launch.ready,
      ),
      this.#pump(child.stderr, "stderr", err, errFiles, opts.stderrHandlers, launch.stderrFilter),
    ]);
    this.#ioDone = Promise.all([child.status, pumps]).then(() => {});
    const status = await child.status;
    stopStdin();
    await pumps;
    if (timer !== undefined) clearTimeout(timer);
    if (this.#stdinWriter) {
      await this.#stdinWriter.close().catch(() => {});
      this.#stdinWriter.releaseLock();
      this.#stdinWriter = undefined;
    }
    for (const f of [...outFiles, ...errFiles]) f.close();
    const stoppedByUs = this.#killRequested || this.#timedOut;
    // Anything of the tree that outlived its leader after a kill goes now, here and remotely
    // (a remote child that closed its output would not have held the connection open).
    // A remote command ended by dexp reports the signal sent to it, as a local one does.
    const remoteSignal = stoppedByUs && launch.terminate && (status.signal || status.code === 255)
      ? this.#remoteSignal
      : null;
    if (stoppedByUs) {
      killMembers(this.#members);
      if (launch.terminate) await withDeadline(launch.terminate("SIGKILL"), opts.killGrace);
    }
    untrack(this);
    // The command never ran (its login was dropped): launch it again, as if for the first time.
    if (launch.onEnd?.(status.code) && !stoppedByUs) return await this.#run(start);

    const stderrText = err.text();
    let failure: FailureKind | null = null;
    let reason: string | null = null;
    // Why it stopped comes first (a kill you asked for never becomes an error); then lost
    // output, which makes a successful run's results incomplete.
    if (this.#timedOut) failure = "timeout";
    else if (this.#killRequested) failure = "killed";
    else if (this.#sinkError) [failure, reason] = ["output", this.#sinkError];
    else if (status.code !== 0) {
      // A target may know why (a login it gave up on); otherwise a signal is a signal.
      const c = launch.classify?.(status.code, stderrText);
      failure = c?.failure ?? (status.signal ? "signal" : "exit");
      reason = c?.reason ?? null;
    }
    return this.#finish(
      new ProcessResult({
        target: this.target,
        command: this.command,
        exitCode: status.signal || remoteSignal ? null : status.code,
        signal: remoteSignal ?? status.signal,
        stdout: out.text(),
        stderr: stderrText,
        stdoutBytes: out.total,
        stderrBytes: err.total,
        start,
        end: new Date(),
        timedOut: this.#timedOut,
        killed: this.#killRequested && !this.#timedOut,
        failure,
        reason,
      }),
    );
  }

  #finish(result: ProcessResult): ProcessResult {
    this.#finished = true;
    for (const w of this.#waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      const what = result.failure ? `${result.failure}` : "exit code 0";
      w.reject(
        new ExpectError(
          `Process ended (${what}) before a line matched ${w.pattern} on ${this.target}: ${this.command}`,
          w.pattern,
          "exit",
        ),
      );
    }
    this.#waiters.clear();
    return result;
  }

  async #pump(
    stream: ReadableStream<Uint8Array>,
    name: StreamName,
    capture: BoundedCapture,
    files: Deno.FsFile[],
    handlers: readonly LineHandler[],
    filter?: StreamFilter,
    ready?: Promise<unknown>,
  ): Promise<void> {
    const opts = this.#opts;
    const echo = !opts.quiet;
    const keep = this.#ctx.keepLines;
    const info: LineInfo = { target: this.target, stream: name, index: this.#ctx.index };
    const cutInfo: LineInfo = { ...info, cut: true };
    const console = name === "stdout" ? Deno.stdout : Deno.stderr;
    const prefix = opts.prefix ?? "";
    const cutMark = ` [... dexp cut this line at ${opts.maxLineBytes} bytes ...]`;
    // Lines are only made when something asks for lines; expect() alone makes them lazily
    // from the capture (see #linesFor), so that raw sinks and files do no per-line work.
    const splitter = echo || handlers.length > 0
      ? new LineSplitter((line, cut) => {
        if (echo) {
          try {
            console.writeSync(encoder.encode(prefix + line + (cut ? cutMark : "") + "\n"));
          } catch {
            // Our own output is closed (`| head`): the process goes on, captured.
          }
        }
        for (const h of handlers) {
          try {
            h(line, cut ? cutInfo : info);
          } catch (e) {
            if (!this.#handlerError) {
              this.#handlerError = true;
              globalThis.console.error(`dexp: a ${name} handler threw on ${this.target}:`, e);
            }
          }
        }
        if (keep) this.#onLine(line, name);
      }, opts.maxLineBytes)
      : null;
    const lazy = keep && !splitter;
    if (lazy) {
      this.#lazy[name] = { capture, splitter: null, ended: false };
      if (this.#linesWanted) this.#startLines();
    }
    const sinks: OutputSink[] = [];
    for (const make of opts.outputSinks) {
      try {
        sinks.push(make(info));
      } catch (e) {
        this.#sinkError ??= `could not start the ${name} sink: ${(e as Error).message}`;
      }
    }
    const take = async (chunk: Uint8Array) => {
      if (chunk.length === 0) return;
      capture.push(chunk);
      splitter?.push(chunk);
      if (lazy) this.#lazy[name]!.splitter?.push(chunk);
      for (const s of sinks) {
        if (this.#sinkError) break;
        try {
          s.write(chunk);
        } catch (e) {
          this.#sinkError = `could not write ${name} to a sink: ${(e as Error).message}`;
        }
      }
      for (const f of files) {
        if (this.#sinkError) break;
        try {
          await writeAll(f, chunk);
        } catch (e) {
          // Keep reading (the process must not block on a full pipe); the result says why
          // its output is incomplete.
          this.#sinkError = `could not write ${name} to a file: ${(e as Error).message}`;
        }
      }
    };
    const reader = stream.getReader();
    this.#readers.push(reader);
    try {
      for (let first = true;; first = false) {
        const { value, done } = await reader.read();
        if (done) break;
        // Nothing of this stream is shown until the target can stop the command: a program
        // that reacts to a line (and exits, or kills) must find the command killable.
        if (first && ready) await ready.catch(() => {});
        await take(filter ? filter.push(value) : value);
      }
      if (filter) await take(filter.flush());
    } finally {
      for (const s of sinks) {
        try {
          s.close();
        } catch (e) {
          this.#sinkError ??= `could not close the ${name} sink: ${(e as Error).message}`;
        }
      }
    }
    splitter?.flush();
    if (lazy) {
      const l = this.#lazy[name]!;
      l.ended = true;
      l.splitter?.flush();
    }
  }

  /**
   * Starts making lines for expect() from the streams that only keep bytes: the lines still
   * held by the capture go to the history, the following ones are split as they come.
   */
  #startLines(): void {
    this.#linesWanted = true;
    for (const name of ["stdout", "stderr"] as const) {
      const l = this.#lazy[name];
      if (!l || l.splitter) continue;
      l.splitter = new LineSplitter((line) => this.#onLine(line, name), this.#opts.maxLineBytes);
      let { bytes, whole } = l.capture.recent();
      if (!whole) {
        // The tail starts in the middle of a line: skip that piece.
        const nl = bytes.indexOf(10);
        bytes = nl === -1 ? new Uint8Array(0) : bytes.subarray(nl + 1);
      }
      l.splitter.push(bytes);
      if (l.ended) l.splitter.flush();
    }
  }

  #onLine(line: string, stream: StreamName): void {
    const entry = { line: line.slice(0, HISTORY_LINE_CHARS), stream };
    this.#history.push(entry);
    if (this.#history.length > HISTORY_LINES * 2) {
      this.#history = this.#history.slice(-HISTORY_LINES);
    }
    for (const w of this.#waiters) {
      if (w.stream !== "any" && w.stream !== stream) continue;
      const m = w.test(entry.line);
      if (m) {
        this.#waiters.delete(w);
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.resolve({ line: entry.line, match: m === true ? null : m, stream });
      }
    }
  }

  /**
   * Waits until a line of output matches `pattern`, e.g. "Server listening". Lines that
   * arrived before the call count too: the last 1000 (with no line handler or console copy,
   * those still held by the capture, see `captureLimit`).
   *
   * @param pattern A substring or a regular expression.
   * @param options `timeout` (a Duration) and which `stream` to watch.
   * @returns The matching line (and the regular expression match).
   * @throws {ExpectError} If the process ends first or the timeout elapses.
   * @throws {RangeError} If the timeout is not a Duration.
   */
  expect(pattern: string | RegExp, options: ExpectOptions = {}): Promise<ExpectMatch> {
    const stream = options.stream ?? "any";
    const timeout = options.timeout === undefined
      ? undefined
      : toMillis(options.timeout, "timeout");
    this.#startLines();
    const test = typeof pattern === "string"
      ? (l: string) => l.includes(pattern) ? true as const : null
      : (l: string) => {
        pattern.lastIndex = 0;
        return l.match(pattern);
      };
    const shown = typeof pattern === "string" ? JSON.stringify(pattern) : String(pattern);
    for (const h of this.#history) {
      if (stream !== "any" && h.stream !== stream) continue;
      const m = test(h.line);
      if (m) {
        return Promise.resolve({ line: h.line, match: m === true ? null : m, stream: h.stream });
      }
    }
    if (this.#finished) {
      return Promise.reject(
        new ExpectError(
          `Process already ended before a line matched ${shown} on ${this.target}: ${this.command}`,
          shown,
          "exit",
        ),
      );
    }
    return new Promise<ExpectMatch>((resolve, reject) => {
      const w: Waiter = { test, stream, resolve, reject, pattern: shown };
      if (timeout !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiters.delete(w);
          reject(
            new ExpectError(
              `No line matched ${shown} within ${
                formatDuration(timeout)
              } on ${this.target}: ${this.command}`,
              shown,
              "timeout",
            ),
          );
        }, timeout);
      }
      this.#waiters.add(w);
    });
  }

  #stdin(): WritableStreamDefaultWriter<Uint8Array> {
    if (!this.#stdinWriter) {
      const mode = typeof this.#opts.stdin === "string" ? this.#opts.stdin : "data";
      throw new TypeError(
        `Stdin of "${this.command}" is not piped (it is ${mode}${
          this.#finished ? ", and the process has ended" : ""
        }): call .stdin("piped") on the command before spawn()`,
      );
    }
    return this.#stdinWriter;
  }

  /**
   * Writes to the process's standard input (needs `.stdin("piped")`).
   *
   * @param data Text or bytes.
   * @throws {TypeError} If stdin is not piped.
   */
  async write(data: string | Uint8Array): Promise<void> {
    await this.#started;
    await this.#stdin().write(typeof data === "string" ? encoder.encode(data) : data);
  }

  /**
   * Writes a line (adds `\n`) to standard input.
   *
   * @param line The line.
   * @throws {TypeError} If stdin is not piped.
   */
  async writeLine(line: string): Promise<void> {
    await this.write(line + "\n");
  }

  /** Closes standard input: the process reads end of file. */
  async closeStdin(): Promise<void> {
    await this.#started;
    const w = this.#stdin();
    this.#stdinWriter = undefined;
    await w.close().catch(() => {});
    w.releaseLock();
  }

  #stop(signal: Deno.Signal): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopping = (async () => {
      await this.#started;
      const child = this.#child;
      if (!child || this.#finished) return;
      const grace = this.#opts.killGrace;
      const terminate = this.#launch?.terminate?.bind(this.#launch);
      if (terminate) {
        this.#remoteSignal = signal;
        await withDeadline(terminate(signal), grace);
      }
      this.#members.push(...signalTree(child.pid, signal));
      if (await withDeadline(this.#ioDone, grace)) return;
      if (terminate) {
        this.#remoteSignal = "SIGKILL";
        await withDeadline(terminate("SIGKILL"), grace);
      }
      killMembers(this.#members);
      this.#members.push(...signalTree(child.pid, "SIGKILL"));
      if (await withDeadline(this.#ioDone, grace)) return;
      // Someone else still holds our pipes (an ssh master holds a mux client's, and the
      // remote kill could not get through): stop reading, so that kill() always ends.
      for (const r of this.#readers) r.cancel().catch(() => {});
    })();
    return this.#stopping;
  }

  /**
   * Ends the process and everything it started (its whole process group; on a remote host,
   * the remote command's process group too): `signal` first, SIGKILL after the grace period.
   * Descendants are found through their parent links (frozen while the tree is walked), so a
   * child that moved to its own session (a daemon) is not reached.
   *
   * @param signal The first signal (default SIGTERM).
   * @returns Resolves when the process has ended.
   */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (this.#finished) return;
    this.#killRequested = true;
    await this.#stop(signal);
    await this.#done;
  }

  /** Used on Ctrl-C: kill, and wait. */
  async interrupt(): Promise<void> {
    await this.kill("SIGTERM");
  }

  /** Used on a second Ctrl-C: SIGKILL the local process tree at once. */
  forceKill(): void {
    if (this.#child) signalTree(this.#child.pid, "SIGKILL");
  }

  /**
   * The argv that sends `signal` to the command where it really runs (a remote host), for
   * the end of the program; null for a local command or while not known.
   *
   * @param signal The signal.
   * @returns The argv, or null.
   */
  remoteKillArgv(signal: Deno.Signal): string[] | null {
    return this.#launch?.killArgv?.(signal) ?? null;
  }

  /** Identity of the shared connection the command uses, if any. */
  get connection(): string | undefined {
    return this.#launch?.connection;
  }

  /**
   * The result, once the process has ended; never rejects.
   *
   * @returns The result, whatever happened.
   */
  result(): Promise<ProcessResult> {
    return this.#done;
  }

  /**
   * The error a failed result means: a {@linkcode ProcessError} subclass, except when the
   * process was killed by `kill()` or the command was `noThrow()`.
   *
   * @param r The result.
   * @returns The error, or undefined.
   */
  protected failureOf(r: ProcessResult): Error | undefined {
    return r.failure && r.failure !== "killed" && !this.#opts.noThrow
      ? errorFor(r, this.#trace)
      : undefined;
  }
}

/**
 * Copies this program's stdin to a child's (stdin "inherit" behind a stdin prefix).
 *
 * @returns A function that stops the copy (call it when the child has ended).
 */
function pumpStdin(writer: WritableStreamDefaultWriter<Uint8Array>): () => void {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = Deno.stdin.readable.getReader();
  } catch {
    // Another command reads our stdin already: this one gets end of file.
    writer.close().catch(() => {}).finally(() => writer.releaseLock());
    return () => {};
  }
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      await writer.close();
    } catch {
      // The child is gone, or our stdin is closed.
    } finally {
      writer.releaseLock();
      reader.releaseLock();
    }
  })();
  return () => {
    reader.cancel().catch(() => {});
  };
}

async function withDeadline(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([p.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
