/**
 * The test-support module of dexp's tests: minimal assertions (jsr:@std/assert is not
 * reachable here; node:assert gives the comparisons, this file gives them the names our tests
 * use), one disposable temp dir, one `waitFor` with a deadline, `sleep`.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that a value is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that two values are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Asserts that a string matches a regular expression. */
export function assertMatch(actual: string, re: RegExp, message?: string): void {
  nodeAssert.match(actual, re, message);
}

/** Asserts that a string contains another. */
export function assertStringIncludes(actual: string, expected: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({
      message: `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
    });
  }
}

/** Asserts that an async function rejects with an error of the given class. */
export async function assertRejects<E extends Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new nodeAssert.AssertionError({ message: `Expected ${cls.name} to be thrown` });
}

function checkError<E extends Error>(
  e: unknown,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => E,
  includes?: string,
): E {
  if (!(e instanceof cls)) {
    throw new nodeAssert.AssertionError({
      message: `Expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    });
  }
  if (includes && !e.message.includes(includes)) {
    throw new nodeAssert.AssertionError({
      message: `Expected message to include ${JSON.stringify(includes)}: ${e.message}`,
    });
  }
  return e;
}

/** Asserts that a function throws an error of the given class; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new nodeAssert.AssertionError({ message: `Expected ${cls.name} to be thrown` });
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The non-empty lines of a text file, or none if it does not exist (yet).
 *
 * @param path The file.
 * @returns Its lines.
 */
export async function readLines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** A temp folder removed with everything in it when disposed. */
export interface TempDir extends AsyncDisposable {
  /** The folder's path. */
  readonly path: string;
}

/**
 * A new temp folder for a test: `await using dir = await tempDir("dexp-x-")`.
 *
 * @param prefix The folder name's prefix.
 * @returns The folder, removed on dispose.
 */
export async function tempDir(prefix = "dexp-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * Polls `fn` until it gives a value other than `undefined` or `false`, and returns it. The
 * deadline is a safety net (a test must not rely on it), not the thing asserted.
 *
 * @param what What is awaited, for the error.
 * @param fn The check.
 * @param options `deadline` in ms (default 60 s), `every` poll interval in ms (default 50).
 * @returns The value.
 * @throws {Error} If the deadline passes first.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  options: { deadline?: number; every?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.deadline ?? 60_000);
  while (true) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(options.every ?? 50);
  }
}
