/**
 * Experiments: `experiment()` registers one, in a registry shared by every copy of this module.
 *
 * @module
 */

import type { ExperimentPool } from "./pool_places.ts";
import { type Group, local } from "../action/mod.ts";
import {
  type Branch,
  type BranchMap,
  type Combination,
  type InferCombination,
  type InferValue,
  Sweep,
  type SweepSpec,
} from "./_sweep.ts";
import { type Duration, toMillis } from "../process/mod.ts";
import type { ExperimentContext } from "./context.ts";

/** What an experiment function may return: `"restart"` asks for another attempt. */
export type ExperimentOutcome = void | undefined | "restart";

/** The body of an experiment, called once per attempt of each parameter combination. */
export type ExperimentFn<H extends Group = Group, P extends Combination = Combination> = {
  // A method, so that an experiment over hosts is also an experiment over a group
  // (method parameters are bivariant).
  bivariant(ctx: ExperimentContext<H>, params: P): Promise<ExperimentOutcome> | ExperimentOutcome;
}["bivariant"];

/** What `params` of an experiment may be. */
export type ExperimentParams = SweepSpec | Sweep | Iterable<Combination>;

/**
 * The type of one combination of an experiment's `params`. For a spec it has exactly the
 * spec's parameters, with no index signature, so a misspelt name (`p.sise` for `size`) is a
 * type error; a spec with branches keeps an index signature for their sub-parameters.
 */
export type ParamsOf<S> = S extends Sweep<infer C> ? C
  : S extends Iterable<infer C> ? (C extends Combination ? C : Combination)
  : S extends SweepSpec ? (
      string extends keyof S ? Combination
        // A branch makes sub-parameters whose names the type cannot know.
        : true extends {
          [K in keyof S]: S[K] extends BranchMap ? true
            : S[K] extends readonly (infer E)[]
              ? ([Extract<E, Branch>] extends [never] ? false : true)
            : false;
        }[keyof S] ? InferCombination<S>
        : { -readonly [K in keyof S]: InferValue<S[K]> }
    )
  : Combination;

/** Options of {@linkcode experiment}. */
export interface ExperimentOptions<H extends Group = Group> {
  /** The hosts commands run on (`ctx.hosts`), or a function that makes them. Default: `local()`. */
  hosts?: H | (() => H);
  /**
   * The parameters: a sweep spec, read as `sweep()` reads it (each parameter a list of
   * values, a scalar constant, `computed()`, `dependent()`, branches), a `sweep()` result, or a list of combinations. Default: one
   * combination with no parameters.
   */
  params?: SweepSpec | Sweep | Iterable<Combination>;
  /** Attempts after the first for a failed combination (default 0: no retry). */
  maxRestarts?: number;
  /** Time limit of one attempt: ms or text like `"10m"` (default: none). */
  timeout?: Duration;
  /** Tags, matched by `dexp run --filter`. */
  tags?: readonly string[];
  /** One line shown by `dexp run --dry-run`. */
  description?: string;
  /**
   * Run the combinations on the slots of a pool's ready machines of a class (one at a time
   * per slot); `ctx.host` and `ctx.slot` tell where. Replaces `hosts`.
   */
  pool?: ExperimentPool;
}

/** A registered experiment (made by {@linkcode experiment}). */
export interface Experiment<H extends Group = Group> {
  /** The name: letters, digits, `.`, `_`, `-`. It names the experiment's results folder. */
  readonly name: string;
  /** The hosts, or the function that makes them. */
  readonly hosts: H | (() => H);
  /** The parameter combinations, in run order. */
  readonly params: Iterable<Combination>;
  /** Attempts after the first for a failed combination. */
  readonly maxRestarts: number;
  /** Time limit of one attempt in ms (from the `timeout` option), or undefined. */
  readonly timeoutMs: number | undefined;
  /** Tags. */
  readonly tags: readonly string[];
  /** A description, or "". */
  readonly description: string;
  /** The pool whose slots run the combinations, or null. */
  readonly pool: ExperimentPool | null;
  /** The body. */
  readonly fn: ExperimentFn<H>;
}

interface Registry {
  experiments: Experiment[];
}

// Symbol.for: the same key in every copy of this module (the CLI's and a user file's
// `@dexp/dexp` import may be two copies), so they share one list.
const KEY = Symbol.for("dexp.engine.registry.v1");

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let r = g[KEY];
  if (!r) {
    r = { experiments: [] };
    g[KEY] = r;
  }
  return r;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkParams(name: string, params: unknown): Iterable<Combination> {
  if (params === undefined) return [{}];
  if (params instanceof Sweep) return params;
  // A spec means what it means to sweep(): a scalar is a constant, one rule in one place.
  if (isPlainObject(params)) {
    return new Sweep(params as SweepSpec);
  }
  if (
    typeof params === "object" && params !== null &&
    typeof (params as Iterable<unknown>)[Symbol.iterator] === "function"
  ) {
    const list = [...(params as Iterable<unknown>)];
    list.forEach((c, i) => {
      if (!isPlainObject(c)) {
        throw new TypeError(
          `Combination ${i} of experiment '${name}' must be a plain object of parameters: received ${
            Array.isArray(c) ? "an array" : typeof c
          }`,
        );
      }
    });
    return list as Combination[];
  }
  throw new TypeError(
    `'params' of experiment '${name}' must be an object of parameter lists, a sweep() or a list of combinations: received ${typeof params}: write { a: [1, 2] }`,
  );
}

/**
 * Makes an experiment from its options and body, checking them (without registering it).
 *
 * @param name The name (letters, digits, `.`, `_`, `-`).
 * @param options Hosts, parameters, restarts, timeout, tags.
 * @param fn The body, called with the context and the parameters of each combination.
 * @returns The experiment.
 * @throws {TypeError} If the name, the parameters or an option is malformed.
 * @throws {RangeError} If `maxRestarts` or `timeout` is out of range.
 * @example
 * ```ts
 * import { defineExperiment } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const e = defineExperiment("hello", { params: { n: [1, 2] } }, async (ctx, p) => {
 *   await ctx.spawn(`echo ${p.n}`);
 * });
 * deepStrictEqual(e.name, "hello");
 * ```
 */
export function defineExperiment<
  H extends Group = Group,
  const S extends ExperimentParams = Record<never, never>,
>(
  name: string,
  options: ExperimentOptions<H> & { params?: S },
  fn: ExperimentFn<H, ParamsOf<S>>,
): Experiment<H> {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Experiment name must use letters, digits, '.', '_' and '-', starting with a letter or digit: received ${
        JSON.stringify(name)
      }`,
    );
  }
  if (!isPlainObject(options as unknown)) {
    throw new TypeError(
      `Options of experiment '${name}' must be an object: received ${typeof options}`,
    );
  }
  if (typeof fn !== "function") {
    throw new TypeError(`Body of experiment '${name}' must be a function: received ${typeof fn}`);
  }
  const maxRestarts = options.maxRestarts ?? 0;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new RangeError(
      `'maxRestarts' of experiment '${name}' must be a non-negative integer: received ${maxRestarts}`,
    );
  }
  const timeoutMs = options.timeout === undefined
    ? undefined
    : toMillis(options.timeout, `timeout' of experiment '${name}`);
  if (timeoutMs === 0) {
    throw new RangeError(
      `'timeout' of experiment '${name}' must be a positive Duration: received ${
        JSON.stringify(options.timeout)
      }`,
    );
  }
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
    throw new TypeError(`'tags' of experiment '${name}' must be a list of strings`);
  }
  return Object.freeze({
    name,
    hosts: options.hosts ?? (() => local() as H),
    params: checkParams(name, options.params),
    maxRestarts,
    timeoutMs,
    tags: Object.freeze([...tags]),
    description: options.description ?? "",
    pool: checkPool(name, options.pool),
    // The combinations come from `params`, so they have the type inferred from it.
    fn: fn as unknown as ExperimentFn<H>,
  });
}

function checkPool(name: string, pool: ExperimentPool | undefined): ExperimentPool | null {
  if (pool === undefined) return null;
  if (typeof pool?.dir !== "string" || typeof pool?.class !== "string") {
    throw new TypeError(
      `'pool' of experiment '${name}' must be { dir: "POOL_DIR", class: "CLASS" }: received ${
        JSON.stringify(pool)
      }`,
    );
  }
  return Object.freeze({ dir: pool.dir, class: pool.class });
}

/**
 * Registers an experiment, to be run by `dexp run FILE` (or `runExperiments()`). Experiments
 * run in the order they are registered.
 *
 * @param name The name (letters, digits, `.`, `_`, `-`); it names the results folder.
 * @param options Hosts, parameters, restarts, timeout, tags.
 * @param fn The body, called with the context and the parameters of each combination.
 * @returns The registered experiment.
 * @throws {TypeError} If the name is taken or the options are malformed.
 * @throws {RangeError} If `maxRestarts` or `timeout` is out of range.
 * @example
 * ```ts
 * import { clearExperiments, experiment, registeredExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * experiment("grid", { params: { a: [1, 2], b: [3] } }, async (ctx, p) => {
 *   await ctx.spawn(`echo ${p.a} ${p.b}`);
 * });
 * deepStrictEqual(registeredExperiments().map((e) => e.name), ["grid"]);
 * clearExperiments();
 * ```
 */
export function experiment<
  H extends Group = Group,
  const S extends ExperimentParams = Record<never, never>,
>(
  name: string,
  options: ExperimentOptions<H> & { params?: S },
  fn: ExperimentFn<H, ParamsOf<S>>,
): Experiment<H> {
  const e = defineExperiment<H, S>(name, options, fn);
  const reg = registry();
  if (reg.experiments.some((x) => x.name === name)) {
    throw new TypeError(
      `Experiment '${name}' is registered twice: give each experiment its own name`,
    );
  }
  reg.experiments.push(e as unknown as Experiment);
  return e;
}

/**
 * The registered experiments, in registration order.
 *
 * @returns A copy of the list.
 * @example
 * ```ts
 * import { clearExperiments, experiment, registeredExperiments } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * experiment("a", {}, () => {});
 * experiment("b", {}, () => {});
 * deepStrictEqual(registeredExperiments().map((e) => e.name), ["a", "b"]);
 * clearExperiments();
 * ```
 */
export function registeredExperiments(): Experiment[] {
  return [...registry().experiments];
}

/**
 * Forgets every registered experiment (for scripts and tests that register several sets).
 *
 * @example
 * ```ts
 * import { clearExperiments, experiment, registeredExperiments } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 * experiment("once", {}, () => {});
 * clearExperiments();
 * strictEqual(registeredExperiments().length, 0);
 * ```
 */
export function clearExperiments(): void {
  registry().experiments.length = 0;
}
