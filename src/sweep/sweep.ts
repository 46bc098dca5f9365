/**
 * `sweep()`: the cartesian product of lists of values, lazily generated in a deterministic
 * order, with nested sub-sweeps, computed parameters and a filter.
 *
 * @module
 */

import type { Combination, JsonValue } from "./combination.ts";

/** A JSON scalar: what a parameter can hold without being a list. */
export type JsonScalar = string | number | boolean | null;

/**
 * A parameter computed from the parameters before it (made by {@linkcode computed} or
 * {@linkcode dependent}).
 *
 * @example
 * ```ts
 * import { computed, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const total = computed((p) => (p.n as number) * 2);
 * deepStrictEqual([...sweep({ n: [1, 2], total })], [{ n: 1, total: 2 }, { n: 2, total: 4 }]);
 * ```
 */
export class Computed<T extends JsonValue = JsonValue> {
  /** The function that computes the value (or the values) from the earlier parameters. */
  readonly fn: (params: Combination) => T | Iterable<T>;
  /** True if `fn` returns a list of values to sweep over, false if it returns one value. */
  readonly many: boolean;
  /**
   * Use {@linkcode computed} or {@linkcode dependent} instead.
   *
   * @param fn Computes the value or the values from the earlier parameters.
   * @param many True if `fn` returns a list of values.
   */
  constructor(fn: (params: Combination) => T | Iterable<T>, many: boolean) {
    this.fn = fn;
    this.many = many;
  }
}

/**
 * A value that brings its own sub-sweep when chosen (made by {@linkcode branch}).
 *
 * @example
 * ```ts
 * import { branch, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const tcp = branch("tcp", { window: [1, 2] });
 * deepStrictEqual([...sweep({ proto: [tcp, "udp"] })], [
 *   { proto: "tcp", window: 1 },
 *   { proto: "tcp", window: 2 },
 *   { proto: "udp" },
 * ]);
 * ```
 */
export class Branch<T extends JsonValue = JsonValue> {
  /** The value of the parameter. */
  readonly value: T;
  /** The parameters swept only when the parameter has this value. */
  readonly spec: SweepSpec;
  /**
   * Use {@linkcode branch} instead.
   *
   * @param value The value of the parameter.
   * @param spec The sub-sweep.
   */
  constructor(value: T, spec: SweepSpec) {
    this.value = value;
    this.spec = spec;
  }
}

/**
 * Sub-sweeps by value, execo style: `{ impl: { a: { threads: [1, 2] }, b: null } }` sweeps
 * `threads` only when `impl` is `"a"`. Each key is a (string) value of the parameter; `null`
 * or `{}` means no sub-parameters.
 */
export interface BranchMap {
  /** A value of the parameter, and the parameters swept only with it (`null`: none). */
  readonly [value: string]: SweepSpec | null;
}

/**
 * What a parameter can be given in a spec: a list of values (some may be
 * {@linkcode branch}es), a {@linkcode BranchMap}, a {@linkcode computed} / {@linkcode dependent}
 * parameter, or a single scalar (a constant).
 */
export type SpecValue =
  | readonly (JsonValue | Branch)[]
  | Computed
  | BranchMap
  | JsonScalar;

/** A sweep spec: parameter names mapped to what they range over. */
export interface SweepSpec {
  /** A parameter name, and what it ranges over. */
  readonly [key: string]: SpecValue;
}

/** The type of the values a spec value gives its parameter. */
export type InferValue<V> = V extends Computed<infer T> ? T
  : V extends readonly (infer E)[] ? (E extends Branch<infer B> ? B : E)
  : V extends JsonScalar ? V
  : V extends BranchMap ? keyof V & string
  : JsonValue;

/**
 * The combinations a spec yields: one key per top-level parameter (sub-sweep parameters are
 * reachable through the index signature).
 */
export type InferCombination<S> =
  & { -readonly [K in keyof S]: InferValue<S[K]> }
  & Combination;

/** Options of {@linkcode sweep}. */
export interface SweepOptions<C> {
  /**
   * The order of the top-level parameters, slowest first: the last one varies fastest. Keys
   * not listed follow in their input order. Default: input order.
   */
  order?: readonly string[];
  /** Keeps only the combinations for which it returns true. */
  where?: (combination: C) => boolean;
}

/**
 * A parameter computed from the earlier ones (distexprunner's `ComputedParam`): it adds one
 * value to each combination and does not multiply their number.
 *
 * @param fn Receives the parameters before it (in sweep order) and returns the value.
 * @returns A spec value.
 * @example
 * ```ts
 * import { computed, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const s = sweep({ n: [1, 2], total: computed((p) => (p.n as number) * 8) });
 * deepStrictEqual([...s], [{ n: 1, total: 8 }, { n: 2, total: 16 }]);
 * ```
 */
export function computed<T extends JsonValue>(fn: (params: Combination) => T): Computed<T> {
  if (typeof fn !== "function") {
    throw new TypeError(`'fn' must be a function: received ${typeof fn}`);
  }
  return new Computed<T>(fn, false);
}

/**
 * A parameter whose list of values depends on the earlier ones.
 *
 * @param fn Receives the parameters before it and returns the values to sweep over (an empty
 * list drops the combination).
 * @returns A spec value.
 * @example
 * ```ts
 * import { dependent, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const s = sweep({ n: [1, 2], k: dependent((p) => Array.from({ length: p.n as number }, (_, i) => i)) });
 * deepStrictEqual(s.count(), 3);
 * ```
 */
export function dependent<T extends JsonValue>(
  fn: (params: Combination) => Iterable<T>,
): Computed<T> {
  if (typeof fn !== "function") {
    throw new TypeError(`'fn' must be a function: received ${typeof fn}`);
  }
  return new Computed<T>(fn, true);
}

/**
 * A value that brings its own sub-sweep: its parameters are swept only when this value is
 * chosen, right after the parameter that holds it.
 *
 * @param value The value.
 * @param spec The sub-sweep.
 * @returns A list item for a spec.
 * @example
 * ```ts
 * import { branch, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const s = sweep({ impl: [branch("omp", { threads: [1, 2] }), "seq"] });
 * deepStrictEqual([...s], [{ impl: "omp", threads: 1 }, { impl: "omp", threads: 2 }, { impl: "seq" }]);
 * ```
 */
export function branch<T extends JsonValue>(value: T, spec: SweepSpec): Branch<T> {
  checkSpec(spec, "spec");
  return new Branch(value, spec);
}

// Internal normalized form of one parameter.
type Item = { value: JsonValue; sub: Level[] | null };
type Level =
  | { key: string; kind: "list"; items: Item[]; plain: boolean }
  | { key: string; kind: "computed"; fn: Computed };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkSpec(spec: unknown, where: string): asserts spec is SweepSpec {
  if (!isPlainObject(spec)) {
    throw new TypeError(
      `'${where}' must be a plain object of parameter lists: received ${
        Array.isArray(spec) ? "an array" : typeof spec
      }`,
    );
  }
}

function normalize(spec: SweepSpec, order: readonly string[] | undefined, where: string): Level[] {
  checkSpec(spec, where);
  let keys = Object.keys(spec);
  if (order) {
    for (const k of order) {
      if (!Object.hasOwn(spec, k)) {
        throw new RangeError(
          `'order' names a parameter that is not in the spec: received '${k}': use one of ${
            keys.map((x) => `'${x}'`).join(", ")
          }`,
        );
      }
    }
    keys = [...new Set(order), ...keys.filter((k) => !order.includes(k))];
  }
  return keys.map((key): Level => {
    const v = spec[key];
    const path = `${where}.${key}`;
    if (v instanceof Computed) return { key, kind: "computed", fn: v };
    if (Array.isArray(v)) {
      const items = v.map((x: JsonValue | Branch): Item =>
        x instanceof Branch
          ? { value: x.value, sub: normalize(x.spec, undefined, `${path}=${String(x.value)}`) }
          : { value: x, sub: null }
      );
      return { key, kind: "list", items, plain: items.every((i) => i.sub === null) };
    }
    if (isPlainObject(v)) {
      const items = Object.entries(v).map(([value, sub]): Item => {
        if (sub !== null && !isPlainObject(sub)) {
          throw new TypeError(
            `'${path}.${value}' must be a sub-spec object or null: received ${typeof sub}`,
          );
        }
        const levels = sub === null
          ? []
          : normalize(sub as SweepSpec, undefined, `${path}=${value}`);
        return { value, sub: levels.length ? levels : null };
      });
      return { key, kind: "list", items, plain: items.every((i) => i.sub === null) };
    }
    const t = typeof v;
    if (v === null || t === "string" || t === "number" || t === "boolean") {
      return { key, kind: "list", items: [{ value: v as JsonScalar, sub: null }], plain: true };
    }
    throw new TypeError(
      `'${path}' must be a list of values, a branch map, computed(), dependent() or a scalar: received ${t}`,
    );
  });
}

// A trie of key sequences, so the sorted key order of a leaf is computed once per shape.
class Shape {
  readonly keys: string[];
  #children = new Map<string, Shape>();
  #perm: number[] | null = null;
  constructor(keys: string[]) {
    this.keys = keys;
  }
  child(key: string): Shape {
    let c = this.#children.get(key);
    if (!c) {
      if (this.keys.includes(key)) {
        throw new TypeError(
          `Parameter '${key}' is set twice in the sweep spec (by a branch and by another level): rename one of them`,
        );
      }
      c = new Shape([...this.keys, key]);
      this.#children.set(key, c);
    }
    return c;
  }
  perm(): number[] {
    if (!this.#perm) {
      this.#perm = this.keys.map((_, i) => i).sort((a, b) =>
        this.keys[a] < this.keys[b] ? -1 : this.keys[a] > this.keys[b] ? 1 : 0
      );
    }
    return this.#perm;
  }
}

function partial(shape: Shape, vals: JsonValue[]): Combination {
  const o: Combination = {};
  for (let i = 0; i < shape.keys.length; i++) o[shape.keys[i]] = vals[i];
  return o;
}

function* walk(
  levels: Level[],
  pos: number,
  shape: Shape,
  vals: JsonValue[],
): Generator<Combination> {
  if (pos === levels.length) {
    const o: Combination = {};
    for (const p of shape.perm()) o[shape.keys[p]] = vals[p];
    yield o;
    return;
  }
  const level = levels[pos];
  const next = shape.child(level.key);
  const depth = shape.keys.length;
  if (level.kind === "computed") {
    const r = level.fn.fn(partial(shape, vals));
    const values = level.fn.many ? r as Iterable<JsonValue> : [r as JsonValue];
    for (const v of values) {
      vals[depth] = v;
      yield* walk(levels, pos + 1, next, vals);
    }
    return;
  }
  if (pos === levels.length - 1 && level.plain) {
    // Innermost plain list: yield directly (the hot loop of large sweeps).
    const perm = next.perm();
    const keys = next.keys;
    for (const item of level.items) {
      vals[depth] = item.value;
      const o: Combination = {};
      for (const p of perm) o[keys[p]] = vals[p];
      yield o;
    }
    return;
  }
  for (const item of level.items) {
    vals[depth] = item.value;
    if (item.sub) {
      yield* walk([...item.sub, ...levels.slice(pos + 1)], 0, next, vals);
    } else {
      yield* walk(levels, pos + 1, next, vals);
    }
  }
}

// The common case, lists of plain values only: one generator, no recursion.
function* odometer(levels: Level[]): Generator<Combination> {
  let shape = new Shape([]);
  for (const l of levels) shape = shape.child(l.key);
  const perm = shape.perm();
  const keys = perm.map((p) => shape.keys[p]);
  const lists = perm.map((p) => (levels[p] as { items: Item[] }).items.map((i) => i.value));
  const n = lists.length;
  if (lists.some((l) => l.length === 0)) return;
  // pos[k] is the position in lists[k]; the digit order follows `levels` (last fastest).
  const digits = levels.map((_, j) => perm.indexOf(j));
  const pos = new Array<number>(n).fill(0);
  for (;;) {
    const o: Combination = {};
    for (let k = 0; k < n; k++) o[keys[k]] = lists[k][pos[k]];
    yield o;
    let j = digits.length - 1;
    for (; j >= 0; j--) {
      const k = digits[j];
      if (++pos[k] < lists[k].length) break;
      pos[k] = 0;
    }
    if (j < 0) return;
  }
}

function countLevels(levels: Level[], pos: number): number | undefined {
  if (pos === levels.length) return 1;
  const level = levels[pos];
  if (level.kind === "computed") return level.fn.many ? undefined : countLevels(levels, pos + 1);
  let total = 0;
  let plain = 0;
  for (const item of level.items) {
    if (item.sub) {
      const c = countLevels([...item.sub, ...levels.slice(pos + 1)], 0);
      if (c === undefined) return undefined;
      total += c;
    } else {
      plain++;
    }
  }
  if (plain > 0) {
    const rest = countLevels(levels, pos + 1);
    if (rest === undefined) return undefined;
    total += plain * rest;
  }
  return total;
}

/**
 * A lazily generated set of combinations (made by {@linkcode sweep}). Iterating it twice
 * yields the same combinations in the same order. Combinations have their keys in sorted
 * order, as in their identity.
 *
 * @example
 * ```ts
 * import { sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const s = sweep({ n: [1, 2], impl: ["a", "b"] });
 * deepStrictEqual([...s].map((c) => `${c.impl}${c.n}`), ["a1", "b1", "a2", "b2"]);
 * deepStrictEqual([...s], [...s]); // the same order every time
 * ```
 */
export class Sweep<C extends object = Combination> implements Iterable<C> {
  #levels: Level[];
  #where: ((c: C) => boolean) | undefined;

  /**
   * Use {@linkcode sweep} instead.
   *
   * @param spec The spec.
   * @param options The options.
   */
  constructor(spec: SweepSpec, options: SweepOptions<C> = {}) {
    this.#levels = normalize(spec, options.order, "spec");
    if (options.where !== undefined && typeof options.where !== "function") {
      throw new TypeError(`'where' must be a function: received ${typeof options.where}`);
    }
    this.#where = options.where;
  }

  static #from<C extends object>(
    levels: Level[],
    where: ((c: C) => boolean) | undefined,
  ): Sweep<C> {
    const s = new Sweep<C>({});
    s.#levels = levels;
    s.#where = where;
    return s;
  }

  /**
   * Iterates over the combinations, last parameter fastest.
   *
   * @returns An iterator of fresh objects.
   */
  *[Symbol.iterator](): IterableIterator<C> {
    const where = this.#where;
    const plain = this.#levels.every((l) => l.kind === "list" && l.plain);
    const it =
      (plain ? odometer(this.#levels) : walk(this.#levels, 0, new Shape([]), [])) as Generator<C>;
    if (!where) {
      yield* it;
      return;
    }
    for (const c of it) if (where(c)) yield c;
  }

  /**
   * The number of combinations. Computed arithmetically when there is no filter and no
   * `dependent()` parameter, otherwise by generating them one at a time (never holding them
   * all in memory).
   *
   * @returns The number of combinations.
   * @example
   * ```ts
   * import { sweep } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * deepStrictEqual(sweep({ a: [1, 2, 3], b: [true, false] }).count(), 6);
   * ```
   */
  count(): number {
    if (!this.#where) {
      const n = countLevels(this.#levels, 0);
      if (n !== undefined) return n;
    }
    let n = 0;
    for (const _ of this) n++;
    return n;
  }

  /**
   * A new sweep that keeps only the combinations for which `predicate` returns true (and
   * that pass this sweep's filter).
   *
   * @param predicate The filter.
   * @returns A new sweep; this one is unchanged.
   * @example
   * ```ts
   * import { sweep } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * const s = sweep({ a: [1, 2, 3], b: [1, 2, 3] }).where((c) => c.a < c.b);
   * deepStrictEqual(s.count(), 3);
   * ```
   */
  where(predicate: (combination: C) => boolean): Sweep<C> {
    if (typeof predicate !== "function") {
      throw new TypeError(`'predicate' must be a function: received ${typeof predicate}`);
    }
    const prev = this.#where;
    return Sweep.#from<C>(this.#levels, prev ? (c) => prev(c) && predicate(c) : predicate);
  }

  /**
   * All combinations in an array.
   *
   * @returns The combinations, in sweep order.
   */
  toArray(): C[] {
    return [...this];
  }
}

/**
 * The cartesian product of a record of value lists, generated lazily in a deterministic
 * order: input order of the keys, the last key varying fastest (see `options.order`).
 *
 * A parameter can be a list of JSON values, a single scalar (a constant), a
 * {@linkcode BranchMap} or a list holding {@linkcode branch}es (sub-sweeps taken only with
 * that value), or {@linkcode computed} / {@linkcode dependent} (values from the earlier
 * parameters).
 *
 * @param spec Parameter names mapped to what they range over.
 * @param options The key order and a filter.
 * @returns A lazy, re-iterable {@linkcode Sweep}.
 * @throws {TypeError} If the spec is malformed or a parameter is set twice.
 * @throws {RangeError} If `options.order` names an unknown parameter.
 * @example
 * ```ts
 * import { geom, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const s = sweep({ n: geom(1, 4, 3), impl: ["a", "b"] }, { where: (c) => c.n > 1 || c.impl === "a" });
 * for (const c of s) console.log(c); // { impl: "a", n: 1 }, { impl: "a", n: 2 }, { impl: "b", n: 2 }, ...
 * deepStrictEqual(s.count(), 5);
 * ```
 */
export function sweep<const S extends SweepSpec>(
  spec: S,
  options: SweepOptions<InferCombination<S>> = {},
): Sweep<InferCombination<S>> {
  return new Sweep<InferCombination<S>>(spec, options);
}
