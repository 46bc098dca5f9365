/**
 * POSIX shell quoting, safe under dash as well as bash.
 *
 * @module
 */

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one value as a single POSIX shell word.
 *
 * Plain words (letters, digits and `_@%+=:,./-`) pass unchanged; anything else is wrapped in
 * single quotes, with `'` written as `'"'"'`. The empty string becomes `''`. Never uses
 * bash-only `$'...'`, so the result is safe in every POSIX shell, including dash.
 *
 * @param value The value to quote; numbers, booleans and bigints are converted with `String`.
 * @returns The quoted word.
 *
 * @example Quote a file name with a space
 * ```ts
 * import { quote } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(quote("my file"), "'my file'");
 * deepStrictEqual(quote("it's"), "'it'\"'\"'s'");
 * ```
 */
export function quote(value: string | number | boolean | bigint): string {
  const s = String(value);
  if (PLAIN.test(s)) return s;
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Quotes every element of an argv array and joins them with spaces.
 *
 * @param argv The words of a command.
 * @returns One shell command line that, run by `sh -c`, gives exactly those words.
 *
 * @example
 * ```ts
 * import { quoteArgv } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * // "%s\\n" is the two characters \ and n, which printf reads as a newline.
 * deepStrictEqual(quoteArgv(["printf", "%s\\n", "a b", ""]), "printf '%s\\n' 'a b' ''");
 * ```
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(" ");
}

/** A value that `sh` can interpolate: a word, or a list of words. */
export type ShellValue =
  | string
  | number
  | boolean
  | bigint
  | RawShell
  | readonly (string | number | boolean | bigint | RawShell)[];

/**
 * Shell text that `sh` inserts without quoting; make one with {@linkcode raw}.
 *
 * @example
 * ```ts
 * import { raw, RawShell, sh } from "@dexp/dexp";
 * import { ok, strictEqual } from "node:assert";
 *
 * ok(raw("$HOME") instanceof RawShell);
 * strictEqual(sh`echo ${raw("$HOME")} ${"$HOME"}`, "echo $HOME '$HOME'");
 * ```
 */
export class RawShell {
  /** The shell text, inserted as it is. */
  readonly text: string;
  /**
   * Wraps shell text.
   *
   * @param text The text, inserted without quoting.
   */
  constructor(text: string) {
    this.text = text;
  }
  /** Returns the shell text. */
  toString(): string {
    return this.text;
  }
}

/**
 * Marks shell text to be inserted by `sh` without quoting (pipes, redirections, globs).
 *
 * @param text Trusted shell text.
 * @returns A value that `sh` inserts as it is.
 *
 * @example
 * ```ts
 * import { raw, sh } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const cmd = sh`ls ${raw("*.log")} | wc -l`;
 * deepStrictEqual(cmd, "ls *.log | wc -l");
 * ```
 */
export function raw(text: string): RawShell {
  return new RawShell(text);
}

function interpolate(value: ShellValue): string {
  if (value instanceof RawShell) return value.text;
  if (Array.isArray(value)) {
    return (value as readonly (string | number | boolean | bigint | RawShell)[])
      .map((v) => v instanceof RawShell ? v.text : quote(v)).join(" ");
  }
  if (value === null || value === undefined) {
    throw new TypeError(
      `Cannot interpolate ${value} into a shell command: pass a string, a number or an array`,
    );
  }
  return quote(value as string | number | boolean | bigint);
}

/**
 * Tagged template that builds a shell command line, POSIX-single-quoting every interpolated
 * value so that it arrives as one literal argument (arrays become several arguments).
 *
 * @param strings The literal parts of the template, inserted as they are.
 * @param values The interpolated values, each quoted.
 * @returns The command line, for `cmd()`, `hosts().run()` or anything that takes a shell
 * string.
 * @throws {TypeError} If a value is `null` or `undefined`.
 *
 * @example
 * ```ts
 * import { sh } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const file = "results; rm -rf ~";
 * deepStrictEqual(sh`wc -l ${file}`, "wc -l 'results; rm -rf ~'");
 * deepStrictEqual(sh`echo ${["a", "", "b c"]}`, "echo a '' 'b c'");
 * ```
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    out += interpolate(values[i]) + strings[i + 1];
  }
  return out;
}
