/**
 * `cmd()`: one command, lazy and immutable, awaitable for its result.
 *
 * @module
 */

import { OptionsBuilder } from "./builder.ts";
import { type CommandOptions, DEFAULT_OPTIONS } from "./options.ts";
import type { ProcessResult } from "./result.ts";
import { RunningProcess } from "./running.ts";
import { LOCAL, type Target } from "./target.ts";

/**
 * A command not yet started. Setters return new commands; awaiting it (or `spawn()`) starts
 * a process. It can be awaited many times: each time runs it again.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const hi = cmd("echo $GREETING").env({ GREETING: "hi" });
 * const bye = hi.env({ GREETING: "bye" }); // a new command: `hi` is unchanged
 * strictEqual(await hi.text(), "hi");
 * strictEqual(await bye.text(), "bye");
 * strictEqual((await cmd("exit 3").noThrow().quiet()).exitCode, 3);
 * ```
 */
export class Command extends OptionsBuilder<Command, ProcessResult> {
  /** Where it runs. */
  readonly target: Target;
  /** A shell line or an argv array. */
  readonly command: string | readonly string[];

  /**
   * Makes a command; prefer {@linkcode cmd} or a host's `run()`.
   *
   * @param target Where it runs.
   * @param command A shell line or an argv array.
   * @param options Its settings.
   * @internal
   */
  constructor(
    target: Target,
    command: string | readonly string[],
    options: CommandOptions = DEFAULT_OPTIONS,
  ) {
    super(options);
    if (typeof command !== "string" && !Array.isArray(command)) {
      throw new TypeError(
        `A command must be a shell line (string) or an argv array: received ${typeof command}`,
      );
    }
    if (typeof command !== "string" && command.length === 0) {
      throw new TypeError("The argv array is empty: give at least the program");
    }
    this.target = target;
    this.command = typeof command === "string" ? command : Object.freeze([...command]);
  }

  /**
   * Makes a copy of this command with other settings.
   *
   * @param options The new settings.
   * @returns The new command.
   */
  protected withOptions(options: CommandOptions): Command {
    return new Command(this.target, this.command, options);
  }

  /** The settings of this command. */
  get settings(): CommandOptions {
    return this.options;
  }

  /**
   * Starts the process and returns its running handle (kill, stdin, expect).
   *
   * @returns The running process.
   */
  spawn(): RunningProcess {
    return this.#launch(true);
  }

  /**
   * Starts the process for an await (no lines kept for `expect()`).
   *
   * @returns The running process.
   */
  protected start(): RunningProcess {
    return this.#launch(false);
  }

  #launch(keepLines: boolean): RunningProcess {
    return new RunningProcess(this.target, this.command, this.options, {
      index: 0,
      vars: {},
      keepLines,
    });
  }

  /**
   * Runs the command and returns its trimmed standard output (quiet).
   *
   * @returns The output without trailing white space.
   * @throws {ProcessError} If the command fails (unless `noThrow()`).
   */
  async text(): Promise<string> {
    return (await this.quiet().start()).text();
  }

  /**
   * Runs the command and returns its output lines (quiet).
   *
   * @returns The lines of standard output.
   * @throws {ProcessError} If the command fails (unless `noThrow()`).
   */
  async lines(): Promise<string[]> {
    return (await this.quiet().start()).lines();
  }

  /**
   * Runs the command and parses its output as JSON (quiet).
   *
   * @returns The parsed output.
   * @throws {ProcessError} If the command fails (unless `noThrow()`).
   * @throws {SyntaxError} If the output is not JSON.
   */
  async json<T = unknown>(): Promise<T> {
    return (await this.quiet().start()).json<T>();
  }

  /**
   * Runs the command without throwing and returns its exit code (null if it did not exit).
   *
   * @returns The exit code.
   */
  async code(): Promise<number | null> {
    return (await this.noThrow().start()).exitCode;
  }
}

/**
 * A local command: a shell line (run by `/bin/sh -c`) or an argv array (run directly, no
 * shell, every element one argument).
 *
 * @param command The command.
 * @returns A lazy, immutable command; await it for its result.
 * @throws {TypeError} If the command is neither a string nor a non-empty array.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 * const kernel = await cmd("uname -r").text(); // a shell line, output trimmed
 * ok(kernel.length > 0);
 * const r = await cmd(["printf", "%s|", "a b", ""]).quiet(); // argv: no shell, no splitting
 * strictEqual(r.stdout, "a b||");
 * ```
 */
export function cmd(command: string | readonly string[]): Command {
  return new Command(LOCAL, command);
}
