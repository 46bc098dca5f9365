// Minimal assertions for the sweep layer's tests (jsr:@std is not reachable here).

function show(v: unknown): string {
  return Deno.inspect(v, { depth: 10, sorted: true, compact: true });
}

export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  if (show(actual) !== show(expected)) {
    throw new Error(
      `${msg ? msg + ": " : ""}values differ\n  actual:   ${show(actual)}\n  expected: ${
        show(expected)
      }`,
    );
  }
}

export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  if (show(actual) === show(expected)) {
    throw new Error(`${msg ? msg + ": " : ""}values are equal: ${show(actual)}`);
  }
}

export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

export function assertThrows(fn: () => unknown, cls: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as Error;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as Error;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

function checkError(e: unknown, cls: ErrorClass, includes?: string): void {
  if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${show(e)}`);
  if (includes !== undefined && !e.message.includes(includes)) {
    throw new Error(`expected message to include ${JSON.stringify(includes)}: ${e.message}`);
  }
}
