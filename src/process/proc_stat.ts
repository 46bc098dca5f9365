/**
 * `/proc/PID/stat` (Linux), read in one place: the process tree walk and the sweep's owner
 * records both take a process's state, parent and start time from here.
 *
 * @module
 */

/** The fields of `/proc/PID/stat` that dexp uses. */
export interface ProcStat {
  /** Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ... */
  readonly state: string;
  /** Field 4: the parent's pid. */
  readonly ppid: number;
  /** Field 22: the start time in clock ticks since boot (with the boot, a pid's identity). */
  readonly startTicks: number;
  /** The process has ended and waits to be reaped (`Z`) or is being removed (`X`, `x`). */
  readonly gone: boolean;
}

/**
 * Parses the text of `/proc/PID/stat`. The command name (field 2) is in parentheses and may
 * hold spaces and parentheses itself, so the fields are split after the last `)`.
 *
 * @param text The file's content.
 * @returns The fields, or `undefined` if the text is not a stat line.
 * @example
 * ```ts
 * import { parseProcStat } from "./proc_stat.ts";
 * import { deepStrictEqual } from "node:assert";
 * const line = "42 (a) b) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5150 0 0";
 * deepStrictEqual(parseProcStat(line), { state: "S", ppid: 1, startTicks: 5150, gone: false });
 * ```
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(" ");
  const ppid = Number(f[1]);
  const startTicks = Number(f[19]);
  if (!f[0] || !Number.isInteger(ppid) || !Number.isInteger(startTicks)) return undefined;
  return { state: f[0], ppid, startTicks, gone: f[0] === "Z" || f[0] === "X" || f[0] === "x" };
}

/**
 * Reads `/proc/PID/stat`.
 *
 * @param pid The process id.
 * @returns The fields, or `undefined` if the process does not exist or `/proc` cannot be read
 * (not Linux, no permission).
 */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}
