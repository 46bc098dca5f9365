/**
 * The version of dexp, stated once: the CLI's `--version`, `run.json` and everything else
 * import it from here (`version_test.ts` holds it equal to `deno.json`'s `version`).
 *
 * @module
 */

/**
 * The version of dexp (equal to `deno.json`'s `version`).
 *
 * @example
 * ```ts
 * import { DEXP_VERSION } from "@dexp/dexp";
 * import { match } from "node:assert";
 *
 * match(DEXP_VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const DEXP_VERSION = "0.1.0";
