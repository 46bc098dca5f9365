/**
 * Composition: `seq(...)` runs steps one after another, `par(...)` runs them at once. Steps
 * are commands, group commands, other composites or async functions.
 *
 * @module
 */

import {
  Command,
  Lazy,
  type ProcessResult,
  quoteArgv,
  Running,
  type RunningProcess,
} from "../process/mod.ts";
import { GroupCommand, type RunningGroup } from "./group_command.ts";
import type { GroupResult } from "./group_result.ts";

/**
 * The outcome of an async-function step.
 *
 * @example
 * ```ts
 * import { FunctionResult, seq } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 *
 * const r = await seq(() => 6 * 7);
 * const step = r.steps[0];
 * ok(step instanceof FunctionResult);
 * strictEqual(step.value, 42);
 * strictEqual(step.ok, true);
 * ```
 */
export class FunctionResult {
  /** The function's name, or `function`. */
  readonly name: string;
  /** What it returned. */
  readonly value: unknown;
  /** What it threw, if anything. */
  readonly error: unknown;
  /** Whether it was not run because an earlier step failed or the composite was killed. */
  readonly skipped: boolean;
  /** When it started. */
  readonly start: Date;
  /** When it ended. */
  readonly end: Date;

  /**
   * Records a function step; dexp builds these.
   *
   * @param fields What happened.
   */
  constructor(
    fields: {
      name: string;
      value?: unknown;
      error?: unknown;
      skipped?: boolean;
      start: Date;
      end: Date;
    },
  ) {
    this.name = fields.name;
    this.value = fields.value;
    this.error = fields.error;
    this.skipped = fields.skipped ?? false;
    this.start = fields.start;
    this.end = fields.end;
  }

  /** True if it ran and did not throw. */
  get ok(): boolean {
    return !this.skipped && this.error === undefined;
  }

  /** Duration in milliseconds. */
  get duration(): number {
    return this.end.getTime() - this.start.getTime();
  }
}

/** The result of one step of a composite. */
export type StepResult = ProcessResult | GroupResult | CompositeResult | FunctionResult;

/**
 * The results of a composite's steps, in order.
 *
 * @example
 * ```ts
 * import { cmd, CompositeResult, par } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 *
 * const r = await par(cmd("echo a").quiet(), () => 42);
 * ok(r instanceof CompositeResult);
 * strictEqual(r.kind, "par");
 * strictEqual(r.ok, true);
 * strictEqual(r.steps.length, 2);
 * ```
 */
export class CompositeResult {
  /** `seq` or `par`. */
  readonly kind: "seq" | "par";
  /** One result per step; steps never run (after a failure in `seq`) are skipped results. */
  readonly steps: readonly StepResult[];
  /** When the composite started. */
  readonly start: Date;
  /** When it ended. */
  readonly end: Date;

  /**
   * Records a composite; dexp builds these.
   *
   * @param kind `seq` or `par`.
   * @param steps The step results.
   * @param start Start time.
   * @param end End time.
   */
  constructor(kind: "seq" | "par", steps: readonly StepResult[], start: Date, end: Date) {
    this.kind = kind;
    this.steps = steps;
    this.start = start;
    this.end = end;
  }

  /** True if every step succeeded. */
  get ok(): boolean {
    return this.steps.every((s) => s.ok);
  }

  /** Duration in milliseconds. */
  get duration(): number {
    return this.end.getTime() - this.start.getTime();
  }
}

/**
 * A step of a composite failed; `result` has every step's outcome.
 *
 * @example
 * ```ts
 * import { cmd, CompositeError, seq } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 *   async () => await seq(cmd("exit 1").quiet(), cmd("echo never").quiet()),
 *   (e) => e instanceof CompositeError && !e.result.ok,
 * );
 * ```
 */
export class CompositeError extends Error {
  /** Every step's result. */
  readonly result: CompositeResult;

  /**
   * Makes the error.
   *
   * @param result The composite's results.
   */
  constructor(result: CompositeResult) {
    const failed = result.steps.filter((s) => !s.ok && !(s instanceof FunctionResult && s.skipped));
    super(
      `${result.kind}: ${failed.length} of ${result.steps.length} steps failed (error.result has every outcome)`,
    );
    this.name = "CompositeError";
    this.result = result;
  }
}

/** An async function step: receives an AbortSignal that fires when the composite is killed. */
export type StepFunction = (signal: AbortSignal) => unknown | Promise<unknown>;

/** Anything that can be a step. */
export type Step = Command | GroupCommand | Composite | StepFunction;

interface RunningStep {
  kill(): Promise<void>;
  result(): Promise<StepResult>;
}

function startStep(step: Step): RunningStep {
  if (step instanceof Command) return wrap(step.spawn());
  if (step instanceof GroupCommand) return wrap(step.spawn());
  if (step instanceof Composite) return step.spawn();
  const controller = new AbortController();
  const start = new Date();
  const name = step.name || "function";
  const done = (async () => {
    try {
      const value = await step(controller.signal);
      return new FunctionResult({ name, value, start, end: new Date() });
    } catch (error) {
      return new FunctionResult({ name, error: error ?? "error", start, end: new Date() });
    }
  })();
  return {
    kill: async () => {
      controller.abort(new Error("killed"));
      await done;
    },
    result: () => done,
  };
}

function wrap(p: RunningProcess | RunningGroup): RunningStep {
  return { kill: () => p.kill(), result: () => p.result() };
}

function skipped(step: Step): StepResult {
  const now = new Date();
  const name = step instanceof Command
    ? (typeof step.command === "string" ? step.command : quoteArgv(step.command))
    : step instanceof GroupCommand
    ? "group"
    : step instanceof Composite
    ? step.kind
    : (step.name || "function");
  return new FunctionResult({ name, skipped: true, start: now, end: now });
}

/**
 * A lazy composition of steps; await it, or `spawn()` it to be able to `kill()` it.
 *
 * @example
 * ```ts
 * import { cmd, Composite, seq } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 *
 * const order: string[] = [];
 * const pipeline = seq(() => order.push("a"), cmd("true").quiet(), () => order.push("b"));
 * ok(pipeline instanceof Composite);
 * strictEqual(order.length, 0); // lazy: nothing ran yet
 * await pipeline;
 * strictEqual(order.join(""), "ab");
 * ```
 */
export class Composite extends Lazy<CompositeResult> {
  /** `seq` or `par`. */
  readonly kind: "seq" | "par";
  /** The steps. */
  readonly steps: readonly Step[];
  readonly #noThrow: boolean;

  /**
   * Makes a composite; prefer {@linkcode seq} and {@linkcode par}.
   *
   * @param kind `seq` or `par`.
   * @param steps The steps.
   * @param noThrow Resolve instead of rejecting when a step fails.
   * @internal
   */
  constructor(kind: "seq" | "par", steps: readonly Step[], noThrow = false) {
    for (const [i, s] of steps.entries()) {
      if (
        !(s instanceof Command || s instanceof GroupCommand || s instanceof Composite ||
          typeof s === "function")
      ) {
        throw new TypeError(
          `Step ${i} of ${kind}() is not a command, a group command, a composite or a function: pass the builder itself (not an awaited result), or wrap work in an async function`,
        );
      }
    }
    super();
    this.kind = kind;
    this.steps = steps;
    this.#noThrow = noThrow;
  }

  /**
   * Resolves with the result instead of rejecting when a step fails.
   *
   * @param value Whether to resolve (default true).
   * @returns A new composite.
   */
  noThrow(value = true): Composite {
    return new Composite(this.kind, this.steps, value);
  }

  /**
   * Starts the composite.
   *
   * @returns The running composite.
   */
  spawn(): RunningComposite {
    return new RunningComposite(this, this.#noThrow);
  }

  /**
   * Starts the composite for an await.
   *
   * @returns The running composite.
   */
  protected start(): RunningComposite {
    return this.spawn();
  }
}

/**
 * A composite that has been started.
 *
 * @example
 * ```ts
 * import { cmd, par } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const running = par(cmd("sleep 60").quiet(), cmd("sleep 60").quiet()).noThrow().spawn();
 * await running.kill();
 * const r = await running.result();
 * strictEqual(r.ok, false);
 * strictEqual(r.steps.length, 2);
 * ```
 */
export class RunningComposite extends Running<CompositeResult> {
  readonly #running = new Set<RunningStep>();
  readonly #done: Promise<CompositeResult>;
  readonly #noThrow: boolean;
  #killed = false;

  /**
   * Starts a composite; use `spawn()` instead.
   *
   * @param c The composite.
   * @param noThrow Resolve instead of rejecting on failure.
   * @internal
   */
  constructor(c: Composite, noThrow: boolean) {
    super();
    this.#noThrow = noThrow;
    const start = new Date();
    const run = async (step: Step): Promise<StepResult> => {
      if (this.#killed) return skipped(step);
      const r = startStep(step);
      this.#running.add(r);
      try {
        return await r.result();
      } finally {
        this.#running.delete(r);
      }
    };
    this.#done = (async () => {
      let steps: StepResult[];
      if (c.kind === "par") {
        steps = await Promise.all(c.steps.map(run));
      } else {
        steps = [];
        let failed = false;
        for (const step of c.steps) {
          const r = failed ? skipped(step) : await run(step);
          if (!r.ok) failed = true;
          steps.push(r);
        }
      }
      return new CompositeResult(c.kind, steps, start, new Date());
    })();
  }

  /**
   * Stops every running step (and does not start the next ones).
   *
   * @returns Resolves when everything has ended.
   */
  async kill(): Promise<void> {
    this.#killed = true;
    await Promise.all([...this.#running].map((r) => r.kill()));
    await this.#done;
  }

  /**
   * Every step's result; never rejects.
   *
   * @returns The composite result.
   */
  result(): Promise<CompositeResult> {
    return this.#done;
  }

  /**
   * The error a failed composite result means: a {@linkcode CompositeError}, unless the
   * composite was `noThrow()` or killed.
   *
   * @param r The composite result.
   * @returns The error, or undefined.
   */
  protected failureOf(r: CompositeResult): Error | undefined {
    return !r.ok && !this.#noThrow && !this.#killed ? new CompositeError(r) : undefined;
  }
}

/**
 * Runs steps one after another; stops at the first failure (the rest are recorded as
 * skipped).
 *
 * @param steps Commands, group commands, composites or async functions (not yet awaited).
 * @returns A lazy composite; await it or `spawn()` it.
 * @throws {TypeError} If a step is not one of those.
 *
 * @example
 * ```ts
 * import { cmd, par, seq } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const r = await seq(
 *   cmd("echo setup").quiet(),
 *   par(cmd("sleep 0.1").quiet(), cmd("sleep 0.1").quiet()),
 *   async () => "analysis done",
 * );
 * deepStrictEqual([r.ok, r.steps.length], [true, 3]);
 * ```
 */
export function seq(...steps: Step[]): Composite {
  return new Composite("seq", steps);
}

/**
 * Runs steps at the same time and waits for all of them.
 *
 * @param steps Commands, group commands, composites or async functions (not yet awaited).
 * @returns A lazy composite; await it or `spawn()` it.
 * @throws {TypeError} If a step is not one of those.
 *
 * @example
 * ```ts
 * import { cmd, par } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const r = await par(cmd("echo a").quiet(), cmd("echo b").quiet());
 * deepStrictEqual(r.ok, true);
 * ```
 */
export function par(...steps: Step[]): Composite {
  return new Composite("par", steps);
}
