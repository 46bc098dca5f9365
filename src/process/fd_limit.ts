/**
 * The file-descriptor limit (RLIMIT_NOFILE), which bounds how many processes can run at once
 * (up to 3 pipes each). Deno has no `setrlimit`, but raises the soft limit to the hard one
 * itself when it starts (a program started under `prlimit --nofile=1024:4096` sees 4096): the
 * soft limit read here is what is left to size windows from.
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
