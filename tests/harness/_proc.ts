/**
 * Private helpers of the sshd test harness: reading `/proc` and ending groups of processes.
 *
 * Linux only. Nothing here spawns a process; every function only reads `/proc` or sends
 * signals, so a test that calls them leaks no op or resource.
 *
 * @module
 */

/** What `/proc/PID/stat` tells about one process. */
export interface ProcStat {
  /** The process id. */
  pid: number;
  /** The parent's process id. */
  ppid: number;
  /** The one-letter state: R, S, D, T, Z, X ... */
  state: string;
  /** The session id (field 6). */
  session: number;
  /** Start time in clock ticks after boot: with `pid`, identifies a process across reuse. */
  starttime: number;
}

/**
 * Reads and parses `/proc/PID/stat`.
 *
 * @param pid The process id.
 * @returns The parsed fields, or `null` when no such process exists.
 */
export async function readStat(pid: number): Promise<ProcStat | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  return parseStat(text);
}

function parseStat(text: string): ProcStat | null {
  // The command name is in parentheses and may itself contain spaces and parentheses.
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 (state) of proc(5); starttime is field 22.
  return {
    pid,
    state: fields[0],
    ppid: Number(fields[1]),
    session: Number(fields[3]),
    starttime: Number(fields[19]),
  };
}

/**
 * Whether a process no longer runs: it does not exist, or it is a zombie waiting to be reaped.
 *
 * @param pid The process id.
 * @param starttime When given, a process with this pid but another start time counts as gone.
 * @returns `true` when the process is gone.
 */
export async function isGone(pid: number, starttime?: number): Promise<boolean> {
  const st = await readStat(pid);
  if (st === null || st.state === "Z" || st.state === "X") return true;
  return starttime !== undefined && st.starttime !== starttime;
}

/**
 * Lists every process visible in `/proc`.
 *
 * @returns One entry per process; processes that end during the scan are left out.
 */
export async function listProcs(): Promise<ProcStat[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (/^\d+$/.test(e.name)) pids.push(Number(e.name));
  }
  const stats = await Promise.all(pids.map(readStat));
  return stats.filter((s): s is ProcStat => s !== null);
}

/**
 * The session of a process.
 *
 * @param pid The process id.
 * @returns Its session id (field 6 of `/proc/PID/stat`), or `null` when there is no such process.
 */
export async function sessionOf(pid: number): Promise<number | null> {
  return (await readStat(pid))?.session ?? null;
}

/**
 * The live (not zombie) processes of a session, read from `/proc`.
 *
 * @param sid The session id.
 * @returns Their pids, in ascending order.
 */
export async function sessionProcs(sid: number): Promise<number[]> {
  return (await listProcs())
    .filter((p) => p.session === sid && p.state !== "Z" && p.state !== "X")
    .map((p) => p.pid).sort((a, b) => a - b);
}

/**
 * Reads `/proc/PID/cmdline`.
 *
 * @param pid The process id.
 * @returns The arguments joined with spaces (empty for zombies and kernel threads), or `null`.
 */
export async function readCmdline(pid: number): Promise<string | null> {
  try {
    const raw = await Deno.readFile(`/proc/${pid}/cmdline`);
    return new TextDecoder().decode(raw).replaceAll("\0", " ").trim();
  } catch {
    return null;
  }
}

/**
 * Reads one variable from `/proc/PID/environ` (the environment the process started with).
 *
 * @param pid The process id.
 * @param name The variable's name.
 * @returns Its value, or `null` when unset or unreadable.
 */
export async function readEnvVar(pid: number, name: string): Promise<string | null> {
  let raw: Uint8Array;
  try {
    raw = await Deno.readFile(`/proc/${pid}/environ`);
  } catch {
    return null;
  }
  const prefix = name + "=";
  for (const entry of new TextDecoder().decode(raw).split("\0")) {
    if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  }
  return null;
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already gone (ESRCH): nothing to do.
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What {@linkcode killAttributed} should end. */
export interface KillTarget {
  /** Processes to end together with all their descendants. */
  roots: number[];
  /**
   * Also ends every live process (and its descendants) for which this returns `true`; used
   * to find processes that left the tree, e.g. by `SSH_CONNECTION` in their environment.
   */
  match?: (pid: number) => Promise<boolean>;
}

/**
 * Ends a set of processes and all their descendants without letting any of them escape.
 *
 * Every process found is first stopped with SIGSTOP, so it can no longer fork; the tree is
 * scanned again until two scans in a row find nothing new; then everything gets SIGKILL.
 * Resolves when every one of them is gone or a zombie (PID 1 may reap late).
 *
 * @param target The roots and an optional matcher.
 * @param timeoutMs How long to wait for the processes to go.
 * @returns The pids that were killed.
 * @throws {Error} When some process still runs after `timeoutMs`.
 */
export async function killAttributed(target: KillTarget, timeoutMs = 10_000): Promise<number[]> {
  const self = Deno.pid;
  const frozen = new Map<number, number>(); // pid -> starttime
  let quiet = 0;
  while (quiet < 2) {
    const procs = await listProcs();
    const live = procs.filter((p) => p.state !== "Z" && p.state !== "X" && p.pid !== self);
    const byPid = new Map(live.map((p) => [p.pid, p]));
    const seeds = new Set<number>([...target.roots, ...frozen.keys()]);
    if (target.match) {
      const hits = await Promise.all(live.map((p) => target.match!(p.pid)));
      live.forEach((p, i) => hits[i] && seeds.add(p.pid));
    }
    const children = new Map<number, number[]>();
    for (const p of live) {
      const list = children.get(p.ppid) ?? [];
      list.push(p.pid);
      children.set(p.ppid, list);
    }
    const found: number[] = [];
    const queue = [...seeds];
    const seen = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      const p = byPid.get(pid);
      if (p === undefined) continue;
      if (!frozen.has(pid)) found.push(pid);
      frozen.set(pid, p.starttime);
      queue.push(...(children.get(pid) ?? []));
    }
    for (const pid of found) signal(pid, "SIGSTOP");
    quiet = found.length === 0 ? quiet + 1 : 0;
    if (quiet < 2) await sleep(found.length === 0 ? 20 : 5);
  }
  for (const pid of frozen.keys()) signal(pid, "SIGKILL");
  const deadline = Date.now() + timeoutMs;
  for (const [pid, start] of frozen) {
    while (!(await isGone(pid, start))) {
      if (Date.now() > deadline) {
        throw new Error(`Process ${pid} still runs ${timeoutMs} ms after SIGKILL`);
      }
      await sleep(10);
    }
  }
  return [...frozen.keys()];
}
