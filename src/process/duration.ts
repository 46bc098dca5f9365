/**
 * Durations given as milliseconds or as text such as `"1m30s"`.
 *
 * @module
 */

/** A duration: milliseconds as a number, or text like `"500ms"`, `"30s"`, `"1h5m"`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Converts a {@linkcode Duration} to milliseconds.
 *
 * @param value The duration.
 * @param what The name of the option, for the error message.
 * @returns The duration in milliseconds.
 * @throws {RangeError} If the value is negative, not finite or not understood.
 *
 * @example
 * ```ts
 * import { toMillis } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(toMillis("1m30s"), 90000);
 * ```
 */
export function toMillis(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`'${what}' must be a non-negative number of ms: received ${value}`);
    }
    return value;
  }
  const text = value.replaceAll(/\s+/g, "");
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) {
    throw new RangeError(
      `'${what}' must be a number of ms or text like "500ms", "30s", "1m30s": received "${value}"`,
    );
  }
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(m[1]) * UNITS[m[2]];
  }
  return total;
}

/**
 * A duration for people, the one formatter of dexp: `850ms`, `12.3s`, `4m05s`, `2h03m`,
 * `3d04h` (two units at most, the larger first); `?` for a negative or non-finite value.
 *
 * @param ms Milliseconds.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatDuration } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual([formatDuration(850), formatDuration(12_345), formatDuration(245_000)], ["850ms", "12.3s", "4m05s"]);
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}
