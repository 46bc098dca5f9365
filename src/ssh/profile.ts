/**
 * Connection profiles that trade something for speed, opt-in: the fast key exchange
 * (`kex: "fast"`, `DEXP_KEX=fast`) and connections that outlive the program (`persist`,
 * `DEXP_PERSIST`).
 *
 * @module
 */

import { type Duration, toMillis } from "../process/mod.ts";

/** Key exchange profile: `"default"` (ssh's own order) or `"fast"` (curve25519 first). */
export type Kex = "default" | "fast";

/**
 * The KexAlgorithms value of the fast profile: curve25519 first, then the client's own
 * default list (`^` prepends), so hosts without curve25519 still connect.
 *
 * @example
 * ```ts
 * import { FAST_KEX } from "@dexp/dexp";
 * import { match } from "node:assert";
 *
 * match(FAST_KEX, /curve25519-sha256/); // "^" puts them before the defaults
 * ```
 */
export const FAST_KEX = "^curve25519-sha256,curve25519-sha256@libssh.org";

/** What `kex`/`persist` may hold (only the keys this file reads). */
interface ProfileParams {
  readonly kex?: Kex;
  readonly persist?: Duration;
}

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined; // No env permission: as if unset.
  }
}

/**
 * The key exchange profile in effect: the parameter, else `$DEXP_KEX`, else `"default"`.
 *
 * @param p Effective parameters.
 * @returns The profile.
 * @throws {RangeError} If `$DEXP_KEX` holds something else than `fast` or `default`.
 */
export function effectiveKex(p: ProfileParams): Kex {
  if (p.kex !== undefined) return p.kex;
  const v = env("DEXP_KEX");
  if (v === undefined) return "default";
  if (v !== "fast" && v !== "default") {
    throw new RangeError(`'DEXP_KEX' must be "fast" or "default": received "${v}"`);
  }
  return v;
}

/**
 * The `-o KexAlgorithms=...` option of the fast profile (none for the default profile).
 *
 * @param p Effective parameters.
 * @returns The options.
 */
export function kexOptions(p: ProfileParams): string[] {
  return effectiveKex(p) === "fast" ? ["-o", `KexAlgorithms=${FAST_KEX}`] : [];
}

/**
 * How long an idle persisted connection stays open, in whole seconds (at least 1): the
 * parameter, else `$DEXP_PERSIST`; 0 when connections end with the program.
 *
 * @param p Effective parameters.
 * @returns Seconds, or 0.
 * @throws {RangeError} If the value (or `$DEXP_PERSIST`) is not a duration.
 */
export function persistSeconds(p: ProfileParams): number {
  const v = p.persist ?? env("DEXP_PERSIST");
  if (v === undefined) return 0;
  const what = p.persist === undefined ? "DEXP_PERSIST" : "persist";
  const ms = toMillis(typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v, what);
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Checks `kex` and `persist`, with errors that say what was wrong.
 *
 * @param p The parameters.
 * @param where Where they came from, for messages.
 * @throws {RangeError} On a wrong value.
 */
export function checkProfile(p: ProfileParams, where: string): void {
  if (p.kex !== undefined && p.kex !== "fast" && p.kex !== "default") {
    throw new RangeError(`'kex' must be "fast" or "default" in ${where}: received "${p.kex}"`);
  }
  if (p.persist !== undefined) {
    if (typeof p.persist !== "number" && typeof p.persist !== "string") {
      throw new RangeError(
        `'persist' must be a duration like "10m" or a number of ms in ${where}: received ${
          JSON.stringify(p.persist)
        }`,
      );
    }
    try {
      toMillis(p.persist, "persist");
    } catch (e) {
      throw new RangeError(`${(e as Error).message} (in ${where})`);
    }
  }
}
