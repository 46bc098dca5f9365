/**
 * Helpers that make lists of numbers for sweep specs: `range`, `linspace`, `geom`, `powers`.
 *
 * Results are rounded to 12 significant digits so that values such as `0.30000000000000004`
 * become `0.3`: identities and folder names stay readable and stable across platforms.
 *
 * @module
 */

function round12(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(12));
}

function checkFinite(name: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new RangeError(`'${name}' must be a finite number: received ${v}`);
  }
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`'n' must be a positive integer: received ${n}`);
  }
}

/**
 * Numbers from `start` up to, not including, `end`, by `step` (like Python's `range`).
 * With one argument, `range(n)` is `0, 1, ..., n - 1`.
 *
 * @param start The first value, or the end if `end` is left out.
 * @param end The bound, never included.
 * @param step The increment, not 0; negative to count down.
 * @returns The list of values.
 * @throws {RangeError} If an argument is not finite, `step` is 0, or the list would have more
 * than 10,000,000 values.
 * @example
 * ```ts
 * import { range } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(range(4), [0, 1, 2, 3]);
 * deepStrictEqual(range(1, 2, 0.25), [1, 1.25, 1.5, 1.75]);
 * ```
 */
export function range(start: number, end?: number, step = 1): number[] {
  if (end === undefined) [start, end] = [0, start];
  checkFinite("start", start);
  checkFinite("end", end);
  checkFinite("step", step);
  if (step === 0) throw new RangeError(`'step' must not be 0: received ${step}`);
  const n = Math.max(0, Math.ceil(round12((end - start) / step)));
  if (n > 10_000_000) {
    throw new RangeError(
      `'range' would make ${n} values: received start ${start}, end ${end}, step ${step}: use a larger step`,
    );
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(round12(start + i * step));
  return out;
}

/**
 * `n` evenly spaced numbers from `start` to `end`, both included.
 *
 * @param start The first value.
 * @param end The last value.
 * @param n How many values, at least 1 (`n = 1` gives `[start]`).
 * @returns The list of values.
 * @throws {RangeError} If `start` or `end` is not finite, or `n` is not a positive integer.
 * @example
 * ```ts
 * import { linspace } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
 * ```
 */
export function linspace(start: number, end: number, n: number): number[] {
  checkFinite("start", start);
  checkFinite("end", end);
  checkCount(n);
  if (n === 1) return [start];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(i === n - 1 ? end : round12(start + (end - start) * i / (n - 1)));
  }
  return out;
}

/**
 * `n` numbers from `start` to `end`, both included, with a constant ratio (a geometric
 * progression, like numpy's `geomspace`).
 *
 * @param start The first value, not 0.
 * @param end The last value, of the same sign as `start`.
 * @param n How many values, at least 1.
 * @returns The list of values.
 * @throws {RangeError} If `start` or `end` is 0 or not finite, their signs differ, or `n` is
 * not a positive integer.
 * @example
 * ```ts
 * import { geom } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(geom(1, 1000, 4), [1, 10, 100, 1000]);
 * deepStrictEqual(geom(1, 16, 5), [1, 2, 4, 8, 16]);
 * ```
 */
export function geom(start: number, end: number, n: number): number[] {
  checkFinite("start", start);
  checkFinite("end", end);
  checkCount(n);
  if (start === 0 || end === 0 || Math.sign(start) !== Math.sign(end)) {
    throw new RangeError(
      `'start' and 'end' must be non-zero and of the same sign: received ${start} and ${end}`,
    );
  }
  if (n === 1) return [start];
  const ratio = end / start;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(i === 0 ? start : i === n - 1 ? end : round12(start * Math.pow(ratio, i / (n - 1))));
  }
  return out;
}

/**
 * The powers of `base` from `base ** from` to `base ** to`, both included.
 *
 * @param base The base, for example 2 or 10.
 * @param from The first exponent (an integer).
 * @param to The last exponent (an integer), at least `from`.
 * @returns The list of values.
 * @throws {RangeError} If `base` is not finite, the exponents are not integers, or `to` is
 * below `from`.
 * @example
 * ```ts
 * import { powers } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(powers(2, 0, 4), [1, 2, 4, 8, 16]);
 * ```
 */
export function powers(base: number, from: number, to: number): number[] {
  checkFinite("base", base);
  if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) {
    throw new RangeError(
      `'from' and 'to' must be integers with 'from' <= 'to': received ${from} and ${to}`,
    );
  }
  const out: number[] = [];
  for (let e = from; e <= to; e++) out.push(round12(Math.pow(base, e)));
  return out;
}
