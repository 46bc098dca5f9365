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
 * console.log(toMillis("1m30s")); // 90000
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
