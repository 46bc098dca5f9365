/**
 * Where a process runs. The process layer runs a local OS process; a target says which
 * program to start for a command (the command itself locally, `ssh ... host` remotely) and
 * how to stop what it started.
 *
 * @module
 */

import type { FailureKind } from "./result.ts";

/** What the user asked to run, before a target turns it into a local process. */
export interface LaunchSpec {
  /** A shell line (run by `sh -c`) or an argv array (run directly, no shell). */
  readonly command: string | readonly string[];
  /** Extra environment variables for the command. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory of the command, if not the default. */
  readonly cwd?: string;
  /** Placeholder values of this target (`host`, `i`), for targets that take paths. */
  readonly vars?: Readonly<Record<string, string>>;
}

/** Filters a byte stream; used by remote targets to take their control lines out of stderr. */
export interface StreamFilter {
  /**
   * Takes a chunk, returns what passes on (possibly empty).
   *
   * @param chunk The next bytes.
   */
  push(chunk: Uint8Array): Uint8Array;
  /** Called at the end of the stream; returns what was held back. */
  flush(): Uint8Array;
}

/** How a target starts a command: a local program, plus hooks. */
export interface Launch {
  /** The local program to start. */
  readonly program: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Environment of the local process (added to this process's environment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory of the local process. */
  readonly cwd?: string;
  /**
   * Bytes written to the process's standard input before the user's stdin (a remote
   * target's script, kept out of every argv). With it, stdin is always a pipe.
   */
  readonly stdinPrefix?: Uint8Array;
  /**
   * Resolves once the target knows how to stop the command where it runs (a remote shell
   * printed its marker), or never will. Standard output is held back until then, so that no
   * line a program reacts to is seen before the command can be killed.
   */
  readonly ready?: Promise<unknown>;
  /** Filters standard error before it is captured or shown. */
  readonly stderrFilter?: StreamFilter;
  /**
   * Stops the command where it really runs (a remote host), with the given signal. The local
   * process group is always signalled by dexp too.
   */
  terminate?(signal: Deno.Signal): Promise<void>;
  /**
   * Synchronous: the argv of a local program that sends `signal` to the command where it
   * really runs, or null while that is not known (e.g. the remote process group). Used when
   * the program ends, when nothing can be awaited.
   */
  killArgv?(signal: Deno.Signal): string[] | null;
  /** Identity of the shared connection the command uses: closing it stops the command first. */
  readonly connection?: string;
  /**
   * Called once the local process has started, with a function that SIGKILLs it (used to
   * give up on a login that stalls).
   */
  onSpawn?(kill: () => void): void;
  /**
   * Called once the local process has ended (`code` null: it could not be started), before
   * its result is made. Returns true if the command never ran and is to be launched again
   * (a login the host dropped before authentication, under a burst).
   */
  onEnd?(code: number | null): boolean;
  /**
   * Classifies an unsuccessful exit, e.g. ssh's 255 as a connection failure.
   * Returns null to use the default classification.
   */
  classify?(code: number, stderr: string): { failure: FailureKind; reason: string } | null;
}

/**
 * Raised by {@linkcode Target.launch} when the command cannot be started there.
 *
 * @example
 * ```ts
 * import { Group } from "@dexp/dexp";
 * import { LaunchError, type Target } from "@dexp/dexp/backend";
 * import { strictEqual } from "node:assert";
 *
 * // A target that cannot reach its machine says so with a LaunchError: the command never ran.
 * const down: Target = {
 *   label: "down",
 *   launch() {
 *     throw new LaunchError("connect", "the lab network is down");
 *   },
 * };
 * const r = await new Group([down]).run("true").quiet().noThrow();
 * strictEqual(r.get(0).failure, "connect");
 * strictEqual(r.get(0).exitCode, null);
 * ```
 */
export class LaunchError extends Error {
  /** `connect` or `spawn`. */
  readonly failure: "connect" | "spawn";
  /** What the target's tools printed, if anything. */
  readonly stderr: string;

  /**
   * Makes the error.
   *
   * @param failure What kind of failure.
   * @param message The reason, shown to the user.
   * @param stderr Output of the failed setup, if any.
   */
  constructor(failure: "connect" | "spawn", message: string, stderr = "") {
    super(message);
    this.name = "LaunchError";
    this.failure = failure;
    this.stderr = stderr;
  }
}

/** A place that can run commands: this machine, or a remote host. */
export interface Target {
  /** Short name shown in results, prefixes and reports. */
  readonly label: string;
  /**
   * Turns a command into the local process that runs it.
   *
   * @param spec The command.
   * @returns The process to start; may wait for a connection to be set up.
   * @throws {LaunchError} If the command cannot be started there.
   */
  launch(spec: LaunchSpec): Launch | Promise<Launch>;
}

/** This machine. */
class LocalTarget implements Target {
  readonly label = "local";

  launch(spec: LaunchSpec): Launch {
    const { command } = spec;
    let program: string;
    let args: readonly string[];
    if (typeof command === "string") {
      [program, args] = ["/bin/sh", ["-c", command]];
    } else {
      if (command.length === 0) {
        throw new LaunchError("spawn", "The argv array is empty: give at least the program");
      }
      [program, ...args] = command;
    }
    return { program, args, env: spec.env, cwd: spec.cwd };
  }
}

/**
 * The local machine as a target; commands run as child processes of this program.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { LOCAL } from "@dexp/dexp/backend";
 * import { strictEqual } from "node:assert";
 *
 * strictEqual(cmd("true").target, LOCAL);
 * strictEqual(LOCAL.label, "local");
 * ```
 */
export const LOCAL: Target = new LocalTarget();
