/**
 * Combinations: their identity (canonical JSON) and their filesystem-safe name.
 *
 * @module
 */

import { hash64Hex } from "./_hash.ts";

/** A JSON value, as allowed in a combination. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** One point of a parameter space: parameter names mapped to JSON values. */
export type Combination = Record<string, JsonValue>;

/**
 * The identity of a combination: its canonical JSON, keys sorted at every level, no spaces.
 *
 * Two combinations with the same keys and values have the same identity whatever the order
 * their keys were written in. Numbers are written as `JSON.stringify` writes them (`-0` is
 * `0`).
 *
 * @param combination A plain object whose values are JSON values.
 * @returns The canonical JSON text.
 * @throws {TypeError} If a value is not a JSON value (undefined, a function, a bigint, a
 * class instance...).
 * @throws {RangeError} If a number is not finite.
 * @example
 * ```ts
 * import { combinationId } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 * strictEqual(combinationId({ b: 2, a: [1, { y: true, x: null }] }), '{"a":[1,{"x":null,"y":true}],"b":2}');
 * ```
 */
export function combinationId(combination: object): string {
  if (isPlainObject(combination)) {
    // Fast path: flat objects whose keys are already sorted (what sweep() yields).
    const rec = combination as Record<string, unknown>;
    const keys = Object.keys(rec);
    let fast = true;
    for (let i = 0; i < keys.length; i++) {
      if (i > 0 && keys[i - 1] >= keys[i]) {
        fast = false;
        break;
      }
      const v = rec[keys[i]];
      const t = typeof v;
      if (t === "string" || t === "boolean" || v === null) continue;
      if (t === "number" && Number.isFinite(v)) continue;
      fast = false;
      break;
    }
    if (fast) return JSON.stringify(rec);
  }
  return canonical(combination, "combination");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function canonical(v: unknown, path: string): string {
  switch (typeof v) {
    case "string":
    case "boolean":
      return JSON.stringify(v);
    case "number":
      if (!Number.isFinite(v)) {
        throw new RangeError(
          `Combination numbers must be finite: received ${v} at '${path}': use null or a string`,
        );
      }
      return JSON.stringify(v);
    case "object": {
      if (v === null) return "null";
      if (Array.isArray(v)) {
        return "[" + v.map((x, i) => canonical(x, `${path}[${i}]`)).join(",") + "]";
      }
      if (!isPlainObject(v)) {
        throw new TypeError(
          `Combination values must be JSON values: received a ${
            v.constructor?.name ?? "non-plain object"
          } at '${path}': convert it to a string, number, array or plain object`,
        );
      }
      const keys = Object.keys(v).sort();
      const parts: string[] = [];
      for (const k of keys) {
        parts.push(JSON.stringify(k) + ":" + canonical(v[k], `${path}.${k}`));
      }
      return "{" + parts.join(",") + "}";
    }
    default:
      throw new TypeError(
        `Combination values must be JSON values: received ${typeof v} at '${path}': use null or leave the key out`,
      );
  }
}

/** Options for {@linkcode combinationName}. */
export interface CombinationNameOptions {
  /**
   * The longest name to produce, in bytes (default 200, leaving room under the usual 255-byte
   * limit of file names). Longer names are cut at a parameter boundary and end with `_~` and
   * a 16-digit hash of the whole identity, so they stay unique.
   */
  maxLength?: number;
}

// Characters written as they are in names; everything else is %XX (UTF-8 bytes).
const SAFE_VALUE = /^[A-Za-z0-9.+,-]$/;
const SAFE_KEY = /^[A-Za-z0-9.+,_-]$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const encoder = new TextEncoder();

function escape(s: string, safe: RegExp): string {
  let out = "";
  for (const ch of s) {
    if (safe.test(ch)) {
      out += ch;
    } else {
      for (const b of encoder.encode(ch)) {
        out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
      }
    }
  }
  return out;
}

function escapeFirst(s: string): string {
  const b = encoder.encode(s[0]);
  return "%" + b[0].toString(16).toUpperCase().padStart(2, "0") + s.slice(1);
}

function nameValue(v: JsonValue): string {
  if (typeof v === "string") {
    const e = escape(v, SAFE_VALUE);
    // A string that reads as a number, a boolean or null gets its first character escaped, so
    // that "4" and 4 have different names.
    if (e === "" || NUMBER.test(e) || e === "true" || e === "false" || e === "null") {
      return e === "" ? "%" : escapeFirst(e);
    }
    return e;
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return JSON.stringify(v);
  // Arrays and objects: '@' then their escaped canonical JSON ('@' is never left unescaped).
  return "@" + escape(canonical(v, "value"), SAFE_VALUE);
}

/**
 * A filesystem-safe name for a combination, such as `a=4_b=2_to_file=false`.
 *
 * Pairs are in sorted key order and joined by `_`. Values use only `A-Z a-z 0-9 . + , -`,
 * everything else is written `%XX` (UTF-8), so a value never contains `_` or `=`. Strings that
 * would read as a number, boolean or null have their first character escaped (`"4"` is `%34`),
 * arrays and objects are `@` and their escaped JSON, and the empty string is `%`. Distinct
 * combinations get distinct names; {@linkcode parseCombinationName} reverses them.
 *
 * @param combination The combination.
 * @param options See {@linkcode CombinationNameOptions}.
 * @returns The name, at most `maxLength` bytes.
 * @throws {TypeError} If a value is not a JSON value.
 * @throws {RangeError} If `maxLength` is below 40.
 * @example
 * ```ts
 * import { combinationName } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(combinationName({ to_file: false, b: 2, a: 4 }), "a=4_b=2_to_file=false");
 * deepStrictEqual(combinationName({ host: "n1/x", n: "4" }), "host=n1%2Fx_n=%34");
 * ```
 */
export function combinationName(combination: object, options: CombinationNameOptions = {}): string {
  const maxLength = options.maxLength ?? 200;
  if (!Number.isInteger(maxLength) || maxLength < 40) {
    throw new RangeError(`'maxLength' must be an integer of at least 40: received ${maxLength}`);
  }
  const id = combinationId(combination);
  const rec = JSON.parse(id) as Combination;
  const keys = Object.keys(rec).sort();
  if (keys.length === 0) return "_";
  const pairs = keys.map((k) => {
    let ek = escape(k, SAFE_KEY);
    if (ek.startsWith("-") || ek.startsWith("_")) ek = escapeFirst(ek);
    return ek + "=" + nameValue(rec[k]);
  });
  const full = pairs.join("_");
  if (full.length <= maxLength) return full;
  const suffix = "_~" + hash64Hex(id);
  let out = "";
  for (const p of pairs) {
    const next = out === "" ? p : out + "_" + p;
    if (next.length + suffix.length > maxLength) break;
    out = next;
  }
  return out + suffix;
}

/** What {@linkcode parseCombinationName} found in a name. */
export interface ParsedCombinationName {
  /** The parameters read from the name (only the kept ones if the name was shortened). */
  combination: Combination;
  /** True if the name was shortened (it ends with `_~` and a hash). */
  truncated: boolean;
}

function unescape(s: string): string {
  if (!s.includes("%")) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...encoder.encode(s[i]));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * Reads a name made by {@linkcode combinationName} back into its parameters.
 *
 * @param name A folder name made by `combinationName`.
 * @returns The parameters and whether the name had been shortened.
 * @throws {SyntaxError} If the name was not made by `combinationName`.
 * @example
 * ```ts
 * import { parseCombinationName } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(parseCombinationName("a=4_b=%34_to_file=false").combination, {
 *   a: 4,
 *   b: "4",
 *   to_file: false,
 * });
 * ```
 */
export function parseCombinationName(name: string): ParsedCombinationName {
  if (name === "_") return { combination: {}, truncated: false };
  let truncated = false;
  let body = name;
  const m = /^(.*)_~[0-9a-f]{16}$/.exec(name);
  if (m) {
    truncated = true;
    body = m[1];
  }
  const out: Combination = {};
  let key = "";
  for (const seg of body === "" ? [] : body.split("_")) {
    const eq = seg.indexOf("=");
    if (eq < 0) {
      key += seg + "_";
      continue;
    }
    key += seg.slice(0, eq);
    const raw = seg.slice(eq + 1);
    out[unescape(key)] = parseValue(raw, name);
    key = "";
  }
  if (key !== "") {
    throw new SyntaxError(
      `Not a combination name: '${name}': expected 'key=value' pairs joined by '_'`,
    );
  }
  return { combination: out, truncated };
}

function parseValue(raw: string, name: string): JsonValue {
  if (raw === "%") return "";
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (raw === "null") return null;
  if (NUMBER.test(raw)) return Number(raw);
  if (raw.startsWith("@")) {
    try {
      return JSON.parse(unescape(raw.slice(1))) as JsonValue;
    } catch {
      throw new SyntaxError(`Not a combination name: '${name}': bad value '${raw}'`);
    }
  }
  return unescape(raw);
}
