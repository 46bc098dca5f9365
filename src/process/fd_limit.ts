/**
 * The file-descriptor limit (RLIMIT_NOFILE), which bounds how many processes can run at once
 * (up to 3 pipes each), and raising its soft value to the hard one.
 *
 * Deno has no `setrlimit` (only `Deno.dlopen` of libc, which needs `--allow-ffi` and is not
 * stable): on Linux, dexp asks util-linux's `prlimit --pid` to raise its own soft limit, once,
 * when the soft limit is below {@linkcode WANTED_FDS} and the hard limit allows more. Where
 * that is not possible, windows are sized from the soft limit as it is.
 *
 * @module
 */

/** Soft and hard limit of open files. */
export interface FdLimits {
  /** The soft limit (what is enforced). */
  soft: number;
  /** The hard limit (how far the soft one may be raised). */
  hard: number;
}

/** Raise the soft limit when it is below this (enough for 1,024 hosts at once). */
export const WANTED_FDS = 8192;

/** File descriptors kept free for everything else (the runtime, files, control commands). */
const RESERVE = 96;

/**
 * The limits of this process, from `/proc/self/limits` (Linux); null elsewhere.
 *
 * @returns The limits, or null when unknown.
 */
export function fdLimits(): FdLimits | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/limits");
  } catch {
    return null;
  }
  const m = text.match(/^Max open files\s+(\S+)\s+(\S+)/m);
  if (!m) return null;
  const num = (s: string) => s === "unlimited" ? Infinity : Number(s);
  const soft = num(m[1]), hard = num(m[2]);
  return Number.isFinite(soft) || soft === Infinity ? { soft, hard } : null;
}

let raising: Promise<FdLimits | null> | undefined;

/**
 * Raises the soft limit to the hard limit, once per program (with an unlimited hard limit,
 * to {@linkcode WANTED_FDS}); does nothing when the soft limit is already
 * {@linkcode WANTED_FDS} or more, or `prlimit` is missing.
 *
 * @returns The limits after the attempt.
 */
export function raiseFdLimit(): Promise<FdLimits | null> {
  return raising ??= (async () => {
    const before = fdLimits();
    if (!before || before.soft >= WANTED_FDS || before.hard <= before.soft) return before;
    const target = before.hard === Infinity ? WANTED_FDS : Math.min(before.hard, 1 << 20);
    try {
      await new Deno.Command("prlimit", {
        args: ["--pid", String(Deno.pid), `--nofile=${target}:`],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
    } catch {
      // No prlimit: the limit stays.
    }
    return fdLimits();
  })();
}

/**
 * How many processes with `perProcess` descriptors each fit in the soft limit, leaving a
 * reserve for everything else; at least 1.
 *
 * @param perProcess Descriptors each process holds here (its pipes).
 * @returns The number of processes, or Infinity when the limit is unknown or unlimited.
 */
export function fdBudget(perProcess = 3): number {
  const l = fdLimits();
  if (!l || l.soft === Infinity) return Infinity;
  return Math.max(1, Math.floor((l.soft - RESERVE) / perProcess));
}
