/**
 * Errors thrown when a process does not succeed; each carries the full result.
 *
 * @module
 */

import { callSiteOf, withCallSite } from "./call_site.ts";
import type { FailureKind, ProcessResult } from "./result.ts";

/** Options of a {@linkcode ProcessError}. */
export interface ProcessErrorOptions extends ErrorOptions {
  /**
   * An `Error` made when the command was started: its first frame outside dexp is the call
   * site shown in the message (`    at file.ts:12:5`) and in `callSite`.
   */
  trace?: Error;
}

const HINTS: Record<number, string> = {
  1: "",
  2: "misuse of a shell builtin or bad arguments",
  126: "command found but not executable",
  127: "command not found",
  130: "interrupted (SIGINT)",
  137: "killed (SIGKILL), maybe out of memory",
  143: "terminated (SIGTERM)",
};

const STDERR_TAIL_LINES = 10;

function stderrTail(result: ProcessResult): string {
  const lines = result.stderr.trimEnd().split("\n");
  if (lines.length === 1 && lines[0] === "") return "";
  const tail = lines.slice(-STDERR_TAIL_LINES);
  const head = lines.length > tail.length
    ? `stderr (last ${tail.length} of ${lines.length} lines):`
    : "stderr:";
  return `\n${head}\n${tail.map((l) => `  ${l}`).join("\n")}`;
}

/**
 * Describes why a result failed, in one line followed by the tail of stderr.
 *
 * @param result A result whose `failure` is set.
 * @returns The message.
 */
export function describeFailure(result: ProcessResult): string {
  const where = `on ${result.target}: ${result.command}`;
  switch (result.failure) {
    case "spawn":
      return `Could not start command ${where}: ${result.reason}`;
    case "connect":
      // The target's layer (ssh) writes the headline: why, and what to change.
      return `Could not connect to ${result.target}: ${
        result.reason ?? "see stderr"
      }; command: ${result.command}${stderrTail(result)}`;
    case "connection-lost":
      return `Connection to ${result.target} was lost while the command ran (it may still run there): ${result.reason}; command: ${result.command}${
        stderrTail(result)
      }`;
    case "exit": {
      const hint = HINTS[result.exitCode!];
      return `Command exited with code ${result.exitCode}${hint ? ` (${hint})` : ""} ${where}${
        stderrTail(result)
      }`;
    }
    case "signal":
      return `Command was ended by ${result.signal} ${where}${stderrTail(result)}`;
    case "timeout":
      return `Command timed out after ${result.duration} ms ${where}${stderrTail(result)}`;
    case "killed":
      return `Command was killed ${where}`;
    case "output":
      return `Output of command was lost ${where}: ${result.reason}`;
    case "lost":
      return `Detached job was lost ${where}: ${result.reason}`;
    default:
      return `Command succeeded ${where}`;
  }
}

/**
 * A process did not succeed. Catch this to handle every kind; `result` has everything.
 *
 * @example
 * ```ts
 * import { cmd, ProcessError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 * async () => await cmd("echo partial; exit 2").quiet(),
 *   (e) => e instanceof ProcessError && e.kind === "exit" && e.result.stdout === "partial\n",
 * );
 * ```
 */
export class ProcessError extends Error {
  /** The complete result of the process. */
  readonly result: ProcessResult;
  /** Why it failed. */
  readonly kind: FailureKind;
  /** Where the command was started in your code (`file.ts:12:5`), if known. */
  readonly callSite: string | null;

  /**
   * Wraps a failed result.
   *
   * @param result The result, whose `failure` is set.
   * @param options Standard error options (cause), and the trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    const site = callSiteOf(options?.trace?.stack);
    super(withCallSite(describeFailure(result), site), options);
    this.name = "ProcessError";
    this.result = result;
    this.kind = result.failure ?? "exit";
    this.callSite = site;
  }

  /** The exit code, if the process exited. */
  get exitCode(): number | null {
    return this.result.exitCode;
  }

  /** Whether the process was stopped by its timeout. */
  get timedOut(): boolean {
    return this.result.timedOut;
  }
}

/**
 * The command ran and exited with a non-zero code.
 *
 * @example
 * ```ts
 * import { cmd, ExitError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 *   async () => await cmd("exit 3").quiet(),
 *   (e) => e instanceof ExitError && e.result.exitCode === 3,
 * );
 * ```
 */
export class ExitError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "ExitError";
  }
}

/**
 * The command was ended by a signal that dexp did not send (crash, OOM killer, ...).
 *
 * @example
 * ```ts
 * import { cmd, SignalError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 * async () => await cmd("kill -USR1 $$").quiet(),
 *   (e) => e instanceof SignalError && e.result.signal === "SIGUSR1",
 * );
 * ```
 */
export class SignalError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "SignalError";
  }
}

/**
 * dexp stopped the command because its timeout elapsed.
 *
 * @example
 * ```ts
 * import { cmd, TimeoutError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 * async () => await cmd("sleep 30").timeout("200ms").quiet(),
 *   (e) => e instanceof TimeoutError && e.result.timedOut,
 * );
 * ```
 */
export class TimeoutError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "TimeoutError";
  }
}

/**
 * The command could not be started on this machine (program missing, bad cwd, ...).
 *
 * @example
 * ```ts
 * import { cmd, SpawnError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(async () => await cmd(["/nonexistent/program"]).quiet(), SpawnError);
 * ```
 */
export class SpawnError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "SpawnError";
  }
}

/**
 * ssh could not reach or log in to the host: the command never ran there.
 *
 * @example
 * ```ts
 * import { ConnectError, hosts } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * // Nothing listens on port 1 of the loopback: ssh cannot connect, the command never runs.
 * await using nodes = hosts("127.0.0.1:1").with({ connectTimeout: "5s" });
 * const nowhere = nodes.host("127.0.0.1:1");
 * await rejects(async () => await nowhere.run("true").quiet(), ConnectError);
 * ```
 */
export class ConnectError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "ConnectError";
  }
}

/**
 * The connection to the host went away while the command ran (sshd killed, host frozen or
 * rebooted): its outcome there is unknown.
 *
 * @example
 * ```ts ignore
 * import { ConnectionLostError, hosts } from "@dexp/dexp";
 * await using nodes = hosts("n1");
 * try {
 *   await nodes.run("./train --epochs 100"); // n1 reboots meanwhile
 * } catch (e) {
 *   if (!(e instanceof ConnectionLostError)) throw e;
 *   console.log(e.result.failure); // "connection-lost": whether train still runs is unknown
 * }
 * ```
 */
export class ConnectionLostError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "ConnectionLostError";
  }
}

/**
 * The command ran, but its output could not be written to a file it was sent to.
 *
 * @example
 * ```ts
 * import { cmd, OutputError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * // /dev/full opens, and every write to it fails (ENOSPC).
 * await rejects(async () => await cmd("echo hi").stdoutFile("/dev/full").quiet(), OutputError);
 * ```
 */
export class OutputError extends ProcessError {
  /**
   * Wraps a failed result.
   *
   * @param result The failed result.
   * @param options The trace of the call site.
   * @internal
   */
  constructor(result: ProcessResult, options?: ProcessErrorOptions) {
    super(result, options);
    this.name = "OutputError";
  }
}

/**
 * Makes the error that matches a failed result.
 *
 * @param result A result whose `failure` is set (not `killed`).
 * @param trace An `Error` made when the command was started (its call site is shown).
 * @returns The matching error.
 */
export function errorFor(result: ProcessResult, trace?: Error): ProcessError {
  const o = trace ? { trace } : undefined;
  switch (result.failure) {
    case "spawn":
      return new SpawnError(result, o);
    case "connect":
      return new ConnectError(result, o);
    case "connection-lost":
      return new ConnectionLostError(result, o);
    case "signal":
      return new SignalError(result, o);
    case "timeout":
      return new TimeoutError(result, o);
    case "output":
      return new OutputError(result, o);
    default:
      return new ExitError(result, o);
  }
}

/**
 * `expect()` did not see a matching line: the process ended first, or the wait timed out.
 *
 * @example
 * ```ts
 * import { cmd, ExpectError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * const p = cmd("echo starting").quiet().spawn();
 * await rejects(p.expect("ready"), ExpectError); // the process ended without printing it
 * await p;
 * ```
 */
export class ExpectError extends Error {
  /** What was awaited. */
  readonly pattern: string;
  /** `timeout` if the wait timed out, `exit` if the process ended first. */
  readonly reason: "timeout" | "exit";

  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param pattern What was awaited.
   * @param reason Why the wait ended.
   */
  constructor(message: string, pattern: string, reason: "timeout" | "exit") {
    super(message);
    this.name = "ExpectError";
    this.pattern = pattern;
    this.reason = reason;
  }
}
