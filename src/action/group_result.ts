/**
 * The outcome of a command run on a group of targets: every target's result, in input order.
 *
 * @module
 */

import {
  callSiteOf,
  describeFailure,
  type ProcessResult,
  type ProcessResultJson,
  withCallSite,
} from "../process/mod.ts";

/**
 * Every target's result, in the order of the group; nothing is lost when some fail.
 *
 * @example
 * ```ts
 * import { local } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const r = await local(3).run((_target, i) => `exit ${i}`).quiet().noThrow();
 * strictEqual(r.ok, false);
 * strictEqual(r.length, 3);
 * deepStrictEqual(r.failed.map((p) => p.exitCode), [1, 2]);
 * deepStrictEqual(r.succeeded.map((p) => p.target), [r.get(0).target]);
 * ```
 */
export class GroupResult implements Iterable<ProcessResult> {
  /** One result per target, in the order of the group. */
  readonly results: readonly ProcessResult[];
  /** When the group started (the earliest start of its targets unless given). */
  readonly start: Date;
  /** When the group ended (the latest end of its targets unless given). */
  readonly end: Date;

  /**
   * Wraps the results of a group; dexp builds these.
   *
   * @param results One result per target, in group order.
   * @param span When the group started and ended; taken from the results if not given.
   */
  constructor(results: readonly ProcessResult[], span?: { start: Date; end: Date }) {
    this.results = results;
    if (span) {
      this.start = span.start;
      this.end = span.end;
    } else if (results.length === 0) {
      this.start = this.end = new Date();
    } else {
      this.start = new Date(Math.min(...results.map((r) => r.start.getTime())));
      this.end = new Date(Math.max(...results.map((r) => r.end.getTime())));
    }
  }

  /** How long the group ran, in milliseconds (from its start to its end). */
  get duration(): number {
    return this.end.getTime() - this.start.getTime();
  }

  /** Number of targets. */
  get length(): number {
    return this.results.length;
  }

  /** True when every target succeeded (killed ones count as not ok). */
  get ok(): boolean {
    return this.results.every((r) => r.ok);
  }

  /** The results that succeeded. */
  get succeeded(): ProcessResult[] {
    return this.results.filter((r) => r.ok);
  }

  /** The results that did not succeed, killed ones included. */
  get failed(): ProcessResult[] {
    return this.results.filter((r) => !r.ok);
  }

  /**
   * The result of the i-th target.
   *
   * @param i Index in the group (negative counts from the end).
   * @returns The result.
   * @throws {RangeError} If there is no such target.
   */
  get(i: number): ProcessResult {
    const r = this.results.at(i);
    if (!r) {
      throw new RangeError(`No result at index ${i}: the group has ${this.length} targets`);
    }
    return r;
  }

  /**
   * The result of the target with this name.
   *
   * @param target The target's label (host name or `local`).
   * @returns The result, or undefined.
   */
  byTarget(target: string): ProcessResult | undefined {
    return this.results.find((r) => r.target === target);
  }

  /**
   * Every target's trimmed standard output, in group order.
   *
   * @returns One text per target.
   */
  text(): string[] {
    return this.results.map((r) => r.text());
  }

  /**
   * Every target's output lines, in group order.
   *
   * @returns One list of lines per target.
   */
  lines(): string[][] {
    return this.results.map((r) => r.lines());
  }

  /**
   * Every target's output parsed as JSON, in group order.
   *
   * @returns One value per target.
   * @throws {SyntaxError} If a target's output is not JSON; the message names the target.
   */
  json<T = unknown>(): T[] {
    return this.results.map((r) => r.json<T>());
  }

  /** Iterates over the results in group order. */
  [Symbol.iterator](): Iterator<ProcessResult> {
    return this.results[Symbol.iterator]();
  }

  /**
   * The results as plain JSON.
   *
   * @returns A JSON-ready object.
   */
  toJSON(): {
    ok: boolean;
    start: string;
    end: string;
    duration: number;
    results: ProcessResultJson[];
  } {
    return {
      ok: this.ok,
      start: this.start.toISOString(),
      end: this.end.toISOString(),
      duration: this.duration,
      results: this.results.map((r) => r.toJSON()),
    };
  }
}

/**
 * Some targets of a group failed; `result` holds every target's outcome.
 *
 * @example
 * ```ts
 * import { GroupError, local } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(
 *   async () => await local(3).run((_target, i) => `exit ${i}`).quiet(),
 *   (e) => e instanceof GroupError && e.result.failed.length === 2 && e.result.length === 3,
 * );
 * ```
 */
export class GroupError extends Error {
  /** Every target's result, those that succeeded included. */
  readonly result: GroupResult;
  /** Where the group command was started in your code (`file.ts:12:5`), if known. */
  readonly callSite: string | null;

  /**
   * Makes the error from a group result.
   *
   * @param result The group's results.
   * @param options `trace`: an `Error` made when the group was started (its call site is
   * shown after the first line).
   */
  constructor(result: GroupResult, options: { trace?: Error } = {}) {
    const site = callSiteOf(options.trace?.stack);
    const failed = result.results.filter((r) => r.failure && r.failure !== "killed");
    const lines = failed.slice(0, 10).map((r) => `  - ${describeFailure(r).split("\n")[0]}`);
    if (failed.length > 10) lines.push(`  ... and ${failed.length - 10} more`);
    super(
      withCallSite(
        `${failed.length} of ${result.length} commands failed (error.result has every outcome):\n${
          lines.join("\n")
        }`,
        site,
      ),
    );
    this.name = "GroupError";
    this.result = result;
    this.callSite = site;
  }
}
