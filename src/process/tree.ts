/**
 * Ends a whole process tree: the process and every descendant, frozen first so that none
 * escapes by forking while the tree is being walked.
 *
 * Processes are spawned in dexp's own process group (posix_spawn, the fast path; a new group
 * per process costs a fork of the whole runtime), so the tree is found from parent links:
 * `/proc` on Linux, `ps` elsewhere.
 *
 * @module
 */

/** A process seen in a tree: its pid and start time, so a reused pid is never signalled. */
export interface TreeMember {
  readonly pid: number;
  readonly start: string;
}

import { readProcStat } from "./proc_stat.ts";

const decoder = new TextDecoder();

interface ProcInfo {
  ppid: number;
  start: string;
  zombie: boolean;
}

function readProcLinux(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    const info = statLinux(pid);
    if (info) out.set(pid, info);
  }
  return out;
}

function statLinux(pid: number): ProcInfo | null {
  const s = readProcStat(pid);
  return s ? { ppid: s.ppid, start: String(s.startTicks), zombie: s.gone } : null;
}

function readProcPs(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  const r = new Deno.Command("ps", { args: ["-A", "-o", "pid=,ppid=,lstart="] }).outputSync();
  for (const line of decoder.decode(r.stdout).split("\n")) {
    const m = line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/);
    if (m) out.set(Number(m[1]), { ppid: Number(m[2]), start: m[3], zombie: false });
  }
  return out;
}

function readProcs(): Map<number, ProcInfo> {
  return Deno.build.os === "linux" ? readProcLinux() : readProcPs();
}

function descendants(root: number, procs: Map<number, ProcInfo>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, info] of procs) {
    const list = children.get(info.ppid);
    if (list) list.push(pid);
    else children.set(info.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function send(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/**
 * Sends `signal` to a process and all its descendants. The tree is frozen (SIGSTOP) while it
 * is walked, then signalled, then continued, so a process cannot escape by forking.
 *
 * @param root The pid of the tree's root.
 * @param signal The signal.
 * @returns Every member signalled, for a later {@linkcode killMembers}.
 */
export function signalTree(root: number, signal: Deno.Signal): TreeMember[] {
  const seen = new Map<number, string>();
  const rootInfo = Deno.build.os === "linux" ? statLinux(root) : null;
  seen.set(root, rootInfo?.start ?? "");
  send(root, "SIGSTOP");
  for (let round = 0; round < 16; round++) {
    const procs = readProcs();
    let added = false;
    for (const pid of descendants(root, procs)) {
      if (seen.has(pid)) continue;
      seen.set(pid, procs.get(pid)!.start);
      send(pid, "SIGSTOP");
      added = true;
    }
    if (!added) break;
  }
  for (const pid of seen.keys()) send(pid, signal);
  if (signal !== "SIGKILL" && signal !== "SIGSTOP") {
    for (const pid of seen.keys()) send(pid, "SIGCONT");
  }
  return [...seen].map(([pid, start]) => ({ pid, start }));
}

/**
 * SIGKILLs the members of a tree that are still alive, and every descendant they have now,
 * skipping any pid that was reused by another process since.
 *
 * @param members What {@linkcode signalTree} returned.
 */
export function killMembers(members: readonly TreeMember[]): void {
  const procs = readProcs();
  for (const m of members) {
    const info = procs.get(m.pid);
    if (!info || info.zombie) continue;
    if (m.start !== "" && info.start !== m.start) continue;
    signalTree(m.pid, "SIGKILL");
  }
}

/**
 * Whether a process is alive (a zombie counts as gone).
 *
 * @param pid The process.
 * @returns True if it runs.
 */
export function isAlive(pid: number): boolean {
  if (Deno.build.os === "linux") {
    const info = statLinux(pid);
    return info !== null && !info.zombie;
  }
  return readProcs().has(pid);
}
