/**
 * Errors of the pool layer that callers are meant to catch.
 *
 * @module
 */

/**
 * A pool directory cannot be read: written by a newer dexp, not a pool, or damaged beyond
 * what dexp repairs by itself (a torn last journal line is repaired silently).
 *
 * @example
 * ```ts
 * import { openPool, PoolFormatError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 * import { join } from "node:path";
 *
 * const dir = await Deno.makeTempDir();
 * const meta = { format: "dexp-pool", version: 99, created: Date.now() };
 * await Deno.writeTextFile(join(dir, "pool.json"), JSON.stringify(meta));
 * await rejects(openPool(dir), (e) => e instanceof PoolFormatError && /newer dexp/.test(e.message));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PoolFormatError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong and how to fix it.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PoolFormatError";
  }
}

/**
 * Something could not be written to a pool directory (disk full, read-only, no permission).
 * Nothing of the operation was recorded; it can be tried again once the cause is fixed.
 *
 * @example
 * ```ts
 * import { initPool, PoolWriteError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 * import { join } from "node:path";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using pool = await initPool(dir, { classes: [{ name: "cpu" }] });
 *   const journal = join(dir, "journal");
 *   await Deno.remove(journal);
 *   await Deno.mkdir(journal); // as unwritable as a full disk, even for root
 *   await rejects(pool.submit({ class: "cpu", command: "true" }), PoolWriteError);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PoolWriteError extends Error {
  /** The error code of the system, e.g. `"ENOSPC"`, if known. */
  readonly code: string | undefined;
  /**
   * Makes the error.
   *
   * @param dir The pool directory.
   * @param file The file that could not be written.
   * @param cause The error of the system.
   */
  constructor(dir: string, file: string, cause: unknown) {
    const code = (cause as { code?: string })?.code;
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `Could not write '${file}' of the pool in '${dir}': ${why}: nothing was recorded; fix the cause and try again`,
      { cause },
    );
    this.name = "PoolWriteError";
    this.code = code;
  }
}

/**
 * An operation does not fit the current state of a job or machine (holding a job that runs,
 * claiming a job another dispatcher claimed, releasing a machine that is not quarantined).
 * Nothing was recorded.
 *
 * @example
 * ```ts
 * import { initPool, PoolStateError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using pool = await initPool(dir, { classes: [{ name: "cpu" }] });
 *   const [job] = await pool.submit({ class: "cpu", command: "true" });
 *   await pool.cancel([job.id]);
 *   await rejects(pool.hold([job.id]), PoolStateError); // a canceled job cannot be held
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PoolStateError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "PoolStateError";
  }
}
