/**
 * Job matrices: `K=a,b J=1,2,3` is the cartesian product of the value lists, in a fixed order
 * (the first variable changes slowest), and the placeholders a job command may use.
 *
 * @module
 */

/** Variables of a matrix: each name with its list of values. */
export type Matrix = Readonly<Record<string, readonly string[]>>;

/** Placeholders every job command may use, besides its matrix variables. */
export const JOB_PLACEHOLDERS: readonly string[] = ["host", "slot", "job", "class"];

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses matrix arguments `K=v1,v2` (one per variable).
 *
 * @param args The arguments, e.g. `["K=a,b", "J=1,2,3"]`.
 * @returns The matrix, variables in argument order.
 * @throws {TypeError} If an argument is not `NAME=v1,v2,...` or a name repeats.
 * @throws {RangeError} If a value list is empty or has an empty value.
 *
 * @example
 * ```ts
 * import { parseMatrixArgs } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * deepStrictEqual(parseMatrixArgs(["K=a,b", "J=1,2,3"]), { K: ["a", "b"], J: ["1", "2", "3"] });
 * ```
 */
export function parseMatrixArgs(args: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const a of args) {
    const eq = a.indexOf("=");
    const name = eq < 0 ? a : a.slice(0, eq);
    if (eq < 0 || !NAME_RE.test(name)) {
      throw new TypeError(
        `Matrix variable '${a}' must be written NAME=v1,v2,... with NAME of letters, digits and _ (e.g. 'K=a,b')`,
      );
    }
    if (name in out) {
      throw new TypeError(
        `Matrix variable '${name}' is given twice: give it once, with all its values`,
      );
    }
    const text = a.slice(eq + 1);
    out[name] = text === "" ? [] : text.split(",");
  }
  checkMatrix(out);
  return out;
}

/**
 * Checks a matrix: names are placeholders-to-be, value lists are not empty.
 *
 * @param m The matrix.
 * @throws {TypeError} For a bad name or a name of a built-in placeholder.
 * @throws {RangeError} For an empty value list or an empty value.
 */
export function checkMatrix(m: Matrix): void {
  const names = Object.keys(m);
  if (names.length === 0) {
    throw new RangeError(
      "A matrix needs at least one variable: give NAME=v1,v2,... (e.g. 'K=a,b')",
    );
  }
  for (const name of names) {
    if (!NAME_RE.test(name)) {
      throw new TypeError(
        `Matrix variable name '${name}' is not valid: use letters, digits and _, not starting with a digit`,
      );
    }
    if (JOB_PLACEHOLDERS.includes(name)) {
      throw new TypeError(
        `Matrix variable '${name}' has the name of a built-in placeholder ({${name}}): choose another name`,
      );
    }
    const values = m[name];
    if (!Array.isArray(values) || values.length === 0) {
      throw new RangeError(
        `Matrix variable '${name}' has an empty list of values: give at least one, like '${name}=a,b'`,
      );
    }
    for (const v of values) {
      if (typeof v !== "string" || v === "") {
        throw new RangeError(
          `Matrix variable '${name}' has an empty value in ${
            JSON.stringify(values)
          }: remove the extra ',' or give a value`,
        );
      }
    }
  }
}

/**
 * The cartesian product of a matrix, the first variable changing slowest.
 *
 * @param m The matrix.
 * @returns One record of values per combination.
 * @throws {RangeError} See {@linkcode checkMatrix}.
 *
 * @example
 * ```ts
 * import { expandMatrix } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * deepStrictEqual(expandMatrix({ K: ["a", "b"], J: ["1", "2"] }), [
 *   { K: "a", J: "1" },
 *   { K: "a", J: "2" },
 *   { K: "b", J: "1" },
 *   { K: "b", J: "2" },
 * ]);
 * ```
 */
export function expandMatrix(m: Matrix): Record<string, string>[] {
  checkMatrix(m);
  const names = Object.keys(m);
  let out: Record<string, string>[] = [{}];
  for (const name of names) {
    const next: Record<string, string>[] = [];
    for (const partial of out) {
      for (const v of m[name]) next.push({ ...partial, [name]: v });
    }
    out = next;
  }
  return out;
}

/**
 * The placeholder names a template uses (`{{` and `}}` are literal braces).
 *
 * @param template A command.
 * @returns The names, in order of first use.
 */
export function placeholdersOf(template: string): string[] {
  const seen = new Set<string>();
  for (const m of template.matchAll(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    if (m[1] !== undefined) seen.add(m[1]);
  }
  return [...seen];
}

/**
 * Checks that a job command names only known placeholders.
 *
 * @param command The command.
 * @param vars The matrix (and pool) variable names it may use besides the built-in ones.
 * @throws {RangeError} Naming the unknown placeholder and what is known.
 *
 * @example
 * ```ts
 * import { checkCommand } from "./matrix.ts";
 * checkCommand("./run --n {n} --gpu {slot}", ["n"]);
 * ```
 */
export function checkCommand(command: string, vars: readonly string[]): void {
  if (typeof command !== "string" || command.trim() === "") {
    throw new TypeError("A job command must be a non-empty shell line: received an empty one");
  }
  const known = new Set([...JOB_PLACEHOLDERS, ...vars]);
  for (const name of placeholdersOf(command)) {
    if (!known.has(name) && command.includes("${" + name + "}")) {
      throw new RangeError(
        `Unknown placeholder '{${name}}' in command "${command}": for the shell variable write '\${{${name}}}' (or '$${name}'); placeholders are ${
          [...known].map((k) => `{${k}}`).join(", ")
        }`,
      );
    }
    if (!known.has(name)) {
      throw new RangeError(
        `Unknown placeholder '{${name}}' in command "${command}": use one of ${
          [...known].map((k) => `{${k}}`).join(", ")
        }, add a matrix variable '${name}=...', or write '{{${name}}}' for literal braces`,
      );
    }
  }
}
