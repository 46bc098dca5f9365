/**
 * One way to register tests that need a real service (the sshd testbed, the Slurm cluster):
 * ignored, with the reason printed once, when the service cannot run here; never ignored under
 * `CI=true`, so that they fail there instead of passing silently.
 *
 * @module
 */

/** Whether this runs under `CI=true`. */
export function inCI(): boolean {
  try {
    return Deno.env.get("CI") === "true";
  } catch {
    return false;
  }
}

/** Registers a test by name and function, or from a full definition. */
export type ServiceTest = (
  nameOrDef: string | Deno.TestDefinition,
  fn?: (t: Deno.TestContext) => void | Promise<void>,
) => void;

/**
 * Makes the registrar of one service's tests, with the op and resource sanitizers on.
 *
 * @param what The service, for the skip message (`sshd`, `Slurm`).
 * @param unavailable Why the service cannot run here, or null when it can.
 * @returns The registrar.
 */
export function serviceTest(what: string, unavailable: string | null): ServiceTest {
  let warned = false;
  return (nameOrDef, fn) => {
    const def: Deno.TestDefinition = typeof nameOrDef === "string"
      ? { name: nameOrDef, fn: fn! }
      : nameOrDef;
    const skip = unavailable !== null && !inCI();
    if (skip && !warned) {
      warned = true;
      console.error(`SKIPPING ${what} tests: ${unavailable} (set CI=true to make them fail)`);
    }
    Deno.test({
      sanitizeOps: true,
      sanitizeResources: true,
      ...def,
      ignore: (def.ignore ?? false) || skip,
    });
  };
}
