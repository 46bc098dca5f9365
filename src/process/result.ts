/**
 * The record of one finished process.
 *
 * @module
 */

/**
 * Why a process did not succeed:
 * - `spawn`: it could not be started locally (program missing, bad cwd, ...);
 * - `connect`: ssh could not reach or log in to the host (exit 255, refused, auth, host key);
 * - `connection-lost`: the connection to the host went away while the command ran (ssh exit
 *   255 with no exit status from the host: sshd killed, host frozen or rebooted);
 * - `exit`: it exited with a non-zero code;
 * - `signal`: it was ended by a signal that dexp did not send;
 * - `timeout`: dexp stopped it because its timeout elapsed;
 * - `killed`: dexp stopped it because `kill()` was called;
 * - `output`: its output could not be written to a file it was sent to (disk full, ...);
 * - `lost`: a detached job whose outcome can no longer be known (host rebooted, supervisor
 *   gone, job folder removed).
 */
export type FailureKind =
  | "spawn"
  | "connect"
  | "connection-lost"
  | "exit"
  | "signal"
  | "timeout"
  | "killed"
  | "output"
  | "lost";

/** The fields of a {@linkcode ProcessResult}, as plain JSON. */
export interface ProcessResultJson {
  /** Where it ran: `local` or the host's name. */
  target: string;
  /** The command as written by the user (a shell line, or argv joined and quoted). */
  command: string;
  /** The exit code, or null if the process did not exit normally. */
  exitCode: number | null;
  /** The signal that ended the process, if any. */
  signal: string | null;
  /** Captured standard output (head and tail when bounded). */
  stdout: string;
  /** Captured standard error (head and tail when bounded). */
  stderr: string;
  /** Bytes of standard output produced in total. */
  stdoutBytes: number;
  /** Bytes of standard error produced in total. */
  stderrBytes: number;
  /** Start time, ISO 8601. */
  start: string;
  /** End time, ISO 8601. */
  end: string;
  /** Duration in milliseconds. */
  duration: number;
  /** Whether dexp stopped it because of its timeout. */
  timedOut: boolean;
  /** Whether dexp stopped it because `kill()` was called. */
  killed: boolean;
  /** Why it did not succeed, or null if it did. */
  failure: FailureKind | null;
  /** Detail for `spawn`, `connect` and `connection-lost` failures. */
  reason: string | null;
  /** True when it exited with code 0 and was neither killed nor timed out. */
  ok: boolean;
}

/**
 * What a finished process produced; built by dexp, read by you.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const r = await cmd("echo 1; echo 2; echo oops >&2; exit 1").quiet().noThrow();
 * strictEqual(r.ok, false);
 * strictEqual(r.failure, "exit");
 * strictEqual(r.exitCode, 1);
 * deepStrictEqual(r.lines(), ["1", "2"]);
 * strictEqual(r.stderr, "oops\n");
 * deepStrictEqual((await cmd(`echo '{"a": 1}'`).quiet()).json(), { a: 1 });
 * ```
 */
export class ProcessResult {
  /** Where it ran: `local` or the host's name. */
  readonly target: string;
  /** The command as written by the user (a shell line, or argv joined and quoted). */
  readonly command: string;
  /** The exit code, or null if the process did not exit normally. */
  readonly exitCode: number | null;
  /** The signal that ended the process, if any. */
  readonly signal: Deno.Signal | null;
  /** Captured standard output (head and tail when bounded). */
  readonly stdout: string;
  /** Captured standard error (head and tail when bounded). */
  readonly stderr: string;
  /** Bytes of standard output produced in total (more than `stdout` holds if bounded). */
  readonly stdoutBytes: number;
  /** Bytes of standard error produced in total. */
  readonly stderrBytes: number;
  /** When the process started (or was attempted). */
  readonly start: Date;
  /** When it ended. */
  readonly end: Date;
  /** Whether dexp stopped it because of its timeout. */
  readonly timedOut: boolean;
  /** Whether dexp stopped it because `kill()` was called. */
  readonly killed: boolean;
  /** Why it did not succeed, or null if it did. */
  readonly failure: FailureKind | null;
  /** Detail for `spawn`, `connect` and `connection-lost` failures (ssh's complaint). */
  readonly reason: string | null;

  /**
   * Builds a result; dexp does this for you.
   *
   * @param fields Everything that is known about the finished process.
   */
  constructor(fields: {
    target: string;
    command: string;
    exitCode: number | null;
    signal: Deno.Signal | null;
    stdout: string;
    stderr: string;
    stdoutBytes: number;
    stderrBytes: number;
    start: Date;
    end: Date;
    timedOut: boolean;
    killed: boolean;
    failure: FailureKind | null;
    reason?: string | null;
  }) {
    this.target = fields.target;
    this.command = fields.command;
    this.exitCode = fields.exitCode;
    this.signal = fields.signal;
    this.stdout = fields.stdout;
    this.stderr = fields.stderr;
    this.stdoutBytes = fields.stdoutBytes;
    this.stderrBytes = fields.stderrBytes;
    this.start = fields.start;
    this.end = fields.end;
    this.timedOut = fields.timedOut;
    this.killed = fields.killed;
    this.failure = fields.failure;
    this.reason = fields.reason ?? null;
  }

  /**
   * The result of a command that never ran (it could not be started, its host could not be
   * reached, or it was killed first): no exit code, no output. Every such result is built
   * here.
   *
   * @param fields Where, what, why; `stderr` is what the failed start printed (ssh's
   * complaint), `start` when it was attempted (default now).
   * @returns The result, with `killed` set for a `killed` failure.
   */
  static notStarted(fields: {
    target: string;
    command: string;
    failure: FailureKind;
    reason: string;
    stderr?: string;
    start?: Date;
  }): ProcessResult {
    const stderr = fields.stderr ?? "";
    const end = new Date();
    return new ProcessResult({
      target: fields.target,
      command: fields.command,
      exitCode: null,
      signal: null,
      stdout: "",
      stderr,
      stdoutBytes: 0,
      stderrBytes: new TextEncoder().encode(stderr).length,
      start: fields.start ?? end,
      end,
      timedOut: false,
      killed: fields.failure === "killed",
      failure: fields.failure,
      reason: fields.reason,
    });
  }

  /** True when it exited with code 0 and was neither killed nor timed out. */
  get ok(): boolean {
    return this.failure === null;
  }

  /** Duration in milliseconds. */
  get duration(): number {
    return this.end.getTime() - this.start.getTime();
  }

  /**
   * Standard output without trailing white space.
   *
   * @returns The trimmed output.
   */
  text(): string {
    return this.stdout.trimEnd();
  }

  /**
   * Standard output split into lines (no trailing empty line).
   *
   * @returns The lines.
   */
  lines(): string[] {
    const t = this.text();
    return t === "" ? [] : t.split(/\r?\n/);
  }

  /**
   * Standard output parsed as JSON.
   *
   * @returns The parsed value.
   * @throws {SyntaxError} If the output is not JSON; the message quotes its start.
   */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.stdout) as T;
    } catch (e) {
      const start = this.stdout.slice(0, 80);
      throw new SyntaxError(
        `Output of "${this.command}" on ${this.target} is not JSON: ${
          (e as Error).message
        }: output starts with ${JSON.stringify(start)}`,
        { cause: e },
      );
    }
  }

  /**
   * The result as plain JSON (dates as ISO strings).
   *
   * @returns A JSON-ready object.
   */
  toJSON(): ProcessResultJson {
    return {
      target: this.target,
      command: this.command,
      exitCode: this.exitCode,
      signal: this.signal,
      stdout: this.stdout,
      stderr: this.stderr,
      stdoutBytes: this.stdoutBytes,
      stderrBytes: this.stderrBytes,
      start: this.start.toISOString(),
      end: this.end.toISOString(),
      duration: this.duration,
      timedOut: this.timedOut,
      killed: this.killed,
      failure: this.failure,
      reason: this.reason,
      ok: this.ok,
    };
  }
}
