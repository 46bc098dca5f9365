/**
 * Errors of the pool layer that callers are meant to catch.
 *
 * @module
 */

/**
 * A pool directory cannot be read: written by a newer dexp, not a pool, or damaged beyond
 * what dexp repairs by itself (a torn last journal line is repaired silently).
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
