/**
 * A command run on every target of a group: fan-out with a bounded window, results in input
 * order, fail-fast or collect-everything.
 *
 * @module
 */

import {
  type CommandOptions,
  DEFAULT_OPTIONS,
  type ExpectMatch,
  type ExpectOptions,
  fdBudget,
  fillPlaceholders,
  OptionsBuilder,
  ProcessResult,
  quoteArgv,
  Running,
  RunningProcess,
  type Target,
  Window,
} from "../process/mod.ts";
import { GroupError, GroupResult } from "./group_result.ts";

/** A command for every target: the same line or argv, or one computed per target. */
export type GroupCommandInput<T extends Target = Target> =
  | string
  | readonly string[]
  | PerTarget<T>;

/**
 * A command computed per target. Written as a method so that a group of hosts is also a
 * group of targets (method parameters are bivariant).
 */
export type PerTarget<T extends Target = Target> = {
  bivariant(target: T, index: number): string | readonly string[];
}["bivariant"];

/**
 * How many targets of a group run at once unless told otherwise: bounded, so that a group
 * of 1000 hosts does not run out of file descriptors (3 pipes a process).
 */
export const DEFAULT_CONCURRENCY = 256;

/** Settings of a group command beyond those of each process. */
export interface GroupSettings {
  /** How many targets run at once (default {@linkcode DEFAULT_CONCURRENCY}). */
  readonly concurrency: number;
  /** Stop every other target at the first failure. */
  readonly failFast: boolean;
}

/**
 * A command not yet started on a group of targets. Setters return new builders; awaiting it
 * runs it everywhere and resolves to a {@linkcode GroupResult}.
 *
 * @example
 * ```ts
 * import { local } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const slots = local(3);
 * const each = slots.run((_target, i) => `echo slot ${i}`).quiet(); // lazy, like a Command
 * deepStrictEqual((await each).text(), ["slot 0", "slot 1", "slot 2"]);
 * const withEnv = slots.run((_target, i) => `echo "$X-${i}"`).env({ X: "x" }).quiet();
 * deepStrictEqual((await withEnv).text(), ["x-0", "x-1", "x-2"]);
 * ```
 */
export class GroupCommand<T extends Target = Target>
  extends OptionsBuilder<GroupCommand<T>, GroupResult> {
  /** The targets, in order. */
  readonly targets: readonly T[];
  /** The command, or the function that computes it per target. */
  readonly input: GroupCommandInput<T>;
  /** Group-level settings. */
  readonly group: GroupSettings;

  /**
   * Makes a group command; prefer a group's `run()`.
   *
   * @param targets The targets.
   * @param input The command or a per-target function.
   * @param options The settings of every process.
   * @param group Concurrency and fail-fast.
   * @internal
   */
  constructor(
    targets: readonly T[],
    input: GroupCommandInput<T>,
    options: CommandOptions = DEFAULT_OPTIONS,
    group: GroupSettings = { concurrency: DEFAULT_CONCURRENCY, failFast: false },
  ) {
    super(options);
    this.targets = targets;
    this.input = input;
    this.group = group;
  }

  /**
   * Makes a copy with other process settings.
   *
   * @param options The new settings.
   * @returns The new builder.
   */
  protected withOptions(options: CommandOptions): GroupCommand<T> {
    return this.#with({ options });
  }

  /**
   * The one place that clones a group command: every field is copied on purpose, and a
   * setter names the fields it changes.
   */
  #with(change: { options?: CommandOptions; group?: Partial<GroupSettings> }): GroupCommand<T> {
    return new GroupCommand(this.targets, this.input, change.options ?? this.options, {
      ...this.group,
      ...change.group,
    });
  }

  /**
   * Limits how many targets run at once (a window: the next starts when one ends).
   *
   * @param n A positive integer, or Infinity (default 256). Long-running commands that are
   *   spawned and awaited with `expect()` (servers) need a window as large as the group.
   * @returns A new builder.
   * @throws {RangeError} If n is not a positive integer.
   */
  concurrency(n: number): GroupCommand<T> {
    new Window(n); // validates
    return this.#with({ group: { concurrency: n } });
  }

  /**
   * At the first failure, stops the running targets and does not start the others.
   *
   * @param value Whether to fail fast (default true).
   * @returns A new builder.
   */
  failFast(value = true): GroupCommand<T> {
    return this.#with({ group: { failFast: value } });
  }

  /** The settings of each process. */
  get settings(): CommandOptions {
    return this.options;
  }

  /**
   * Starts the command on every target (within the window) and returns the running group.
   *
   * @returns The running group: `kill()`, `expect()`, await it.
   */
  spawn(): RunningGroup {
    return new RunningGroup(this, true);
  }

  /**
   * Starts the group for an await (no lines kept for `expect()`).
   *
   * @returns The running group.
   */
  protected start(): RunningGroup {
    return new RunningGroup(this, false);
  }

  /**
   * Runs everywhere and returns every target's trimmed output, in group order (quiet).
   *
   * @returns One text per target.
   * @throws {GroupError} If a target fails (unless `noThrow()`).
   */
  async text(): Promise<string[]> {
    return (await this.quiet().start()).text();
  }

  /**
   * Runs everywhere and returns every target's output lines, in group order (quiet).
   *
   * @returns One list of lines per target.
   * @throws {GroupError} If a target fails (unless `noThrow()`).
   */
  async lines(): Promise<string[][]> {
    return (await this.quiet().start()).lines();
  }

  /**
   * Runs everywhere and parses every target's output as JSON, in group order (quiet).
   *
   * @returns One value per target.
   * @throws {GroupError} If a target fails (unless `noThrow()`).
   * @throws {SyntaxError} If a target's output is not JSON; the message names the target.
   */
  async json<T = unknown>(): Promise<T[]> {
    return (await this.quiet().start()).json<T>();
  }

  /**
   * Runs everywhere without throwing and returns every target's exit code, in group order
   * (null for a target that did not exit: killed, not started, could not connect).
   *
   * @returns One exit code per target.
   */
  async code(): Promise<(number | null)[]> {
    return (await this.noThrow().start()).results.map((r) => r.exitCode);
  }
}

/**
 * A group command that has been started.
 *
 * @example
 * ```ts
 * import { local } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const servers = local(2).run("echo up; sleep 60").quiet().noThrow().spawn();
 * await servers.kill(); // every member: TERM, then KILL after the grace period
 * const r = await servers.result();
 * deepStrictEqual(r.results.map((p) => p.killed), [true, true]);
 * ```
 */
export class RunningGroup extends Running<GroupResult> {
  readonly #members: (RunningProcess | undefined)[];
  // Holders, not the processes themselves: a RunningProcess is thenable and would be adopted.
  readonly #started: Promise<{ p: RunningProcess } | null>[];
  readonly #noThrow: boolean;
  readonly #done: Promise<GroupResult>;
  #stopReason: string | null = null;
  readonly #size: number;
  readonly #concurrency: number;
  readonly #trace: Error;

  /**
   * Starts a group command; use `spawn()` or await the command instead.
   *
   * @param command The group command.
   * @param keepLines Keep recent output lines for `expect()`.
   * @internal
   */
  // deno-lint-ignore no-explicit-any
  constructor(command: GroupCommand<any>, keepLines: boolean) {
    super();
    const start = new Date();
    const targets = command.targets;
    const opts = command.settings;
    const { concurrency, failFast } = command.group;
    this.#size = targets.length;
    this.#concurrency = concurrency;
    // Only the trace is captured (cheap); its call site is read if the group fails.
    this.#trace = new Error();
    this.#noThrow = opts.noThrow;
    this.#members = new Array(targets.length).fill(undefined);
    // The default window is capped so that it fits in the file-descriptor soft limit (Deno
    // raised it to the hard limit at start); a window asked for is kept.
    const window = new Window(
      concurrency === DEFAULT_CONCURRENCY ? Math.min(concurrency, fdBudget()) : concurrency,
    );
    const startedResolvers: ((p: { p: RunningProcess } | null) => void)[] = [];
    this.#started = targets.map(() =>
      new Promise<{ p: RunningProcess } | null>((r) => startedResolvers.push(r))
    );
    const runOne = async (i: number): Promise<ProcessResult> => {
      const target = targets[i];
      const vars = { host: target.label, i: String(i) };
      let commandLine: string | readonly string[];
      try {
        commandLine = typeof command.input === "function"
          ? command.input(target, i)
          : command.input;
      } catch (e) {
        startedResolvers[i](null);
        return notStarted(target.label, "<per-target function>", "spawn", (e as Error).message);
      }
      await window.acquire();
      try {
        if (this.#stopReason !== null) {
          startedResolvers[i](null);
          return notStarted(target.label, show(commandLine), "killed", this.#stopReason);
        }
        const prefix = opts.quiet ? "" : fillPlaceholders(opts.prefix ?? "[{host}] ", vars);
        const p = new RunningProcess(target, commandLine, { ...opts, prefix }, {
          index: i,
          vars,
          keepLines,
        });
        this.#members[i] = p;
        startedResolvers[i]({ p });
        const r = await p.result();
        if (failFast && r.failure && r.failure !== "killed" && this.#stopReason === null) {
          this.#stop(`not started: fail-fast after a failure on ${r.target}`);
        }
        return r;
      } finally {
        window.release();
      }
    };
    this.#done = Promise.all(targets.map((_, i) => runOne(i))).then((rs) =>
      new GroupResult(rs, { start, end: new Date() })
    );
  }

  #stop(reason: string): Promise<void> {
    this.#stopReason = reason;
    return Promise.all(this.#members.map((m) => m?.kill())).then(() => {});
  }

  /** The running processes, by index (undefined while a target waits for the window). */
  get members(): readonly (RunningProcess | undefined)[] {
    return this.#members;
  }

  /**
   * Stops every target (remote ones on their hosts too); targets not started yet are not
   * started.
   *
   * @param signal The first signal (default SIGTERM; SIGKILL after the grace period).
   * @returns Resolves when everything has ended.
   */
  async kill(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    this.#stopReason ??= "not started: the group was killed";
    await Promise.all(this.#members.map((m) => m?.kill(signal)));
    await this.#done;
  }

  /**
   * Waits until every target printed a line that matches (e.g. every server is listening).
   *
   * @param pattern A substring or a regular expression.
   * @param options `timeout` (a Duration, per target) and which `stream` to watch.
   * @returns One match per target, in group order.
   * @throws {ExpectError} If a target ends or times out first.
   * @throws {RangeError} If the group is larger than its concurrency window.
   */
  async expect(pattern: string | RegExp, options: ExpectOptions = {}): Promise<ExpectMatch[]> {
    if (this.#size > this.#concurrency) {
      throw new RangeError(
        `expect() waits for all ${this.#size} targets, but only ${this.#concurrency} run at once: call .concurrency(${this.#size}) (or Infinity) on the group command before spawn()`,
      );
    }
    return await Promise.all(this.#started.map(async (s, i) => {
      const started = await s;
      if (!started) {
        const r = (await this.#done).get(i);
        throw new Error(`Target ${r.target} never started: ${r.reason}`);
      }
      return started.p.expect(pattern, options);
    }));
  }

  /**
   * Every target's result; never rejects.
   *
   * @returns The group result.
   */
  result(): Promise<GroupResult> {
    return this.#done;
  }

  /**
   * The error a failed group result means: a {@linkcode GroupError} carrying every result
   * when a target failed (killed ones excepted), unless the command was `noThrow()`.
   *
   * @param r The group result.
   * @returns The error, or undefined.
   */
  protected failureOf(r: GroupResult): Error | undefined {
    return !this.#noThrow && r.results.some((x) => x.failure && x.failure !== "killed")
      ? new GroupError(r, { trace: this.#trace })
      : undefined;
  }
}

function show(c: string | readonly string[]): string {
  return typeof c === "string" ? c : quoteArgv(c);
}

function notStarted(
  target: string,
  command: string,
  failure: "killed" | "spawn",
  reason: string,
): ProcessResult {
  return ProcessResult.notStarted({ target, command, failure, reason });
}
