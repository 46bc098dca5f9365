/**
 * Minimal assertions for dexp's tests (jsr:@std/assert is not reachable here; node:assert
 * gives the comparisons, this file gives them the names our tests use).
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
  throw new nodeAssert.AssertionError({ message: `Expected ${cls.name} to be thrown` });
}
