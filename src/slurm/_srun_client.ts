// Private: the local `srun` client that holds the job step of a detached job on an allocation
// node. A step ends with its srun client, so this client must outlive the program that starts
// it: it runs in a session of its own (`setsid -f`), reads /dev/null and writes to a private
// log file here (never a pipe to this program, or it would die of SIGPIPE once this program is
// gone). The log's first line is the client's `DEXP-SRUN PID START` (its identity); srun's own
// output follows, which holds the supervisor's confirm line.

import { join, readProcStat } from "../process/mod.ts";

/** Marks the first line of a client log: the client's pid and start time. */
const CLIENT = "DEXP-SRUN";

/** The wrapper run by `setsid -f /bin/sh -c WRAP sh LOG srun ARGS...`. */
const WRAP = `umask 077
exec >"$1" 2>&1 </dev/null || exit 1
shift
read -r l < /proc/$$/stat
l=\${l##*") "}
st=$(set -- $l; shift 19; echo "$1")
echo "${CLIENT} $$ $st"
exec "$@"`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The folder for client logs on this machine: `$XDG_CACHE_HOME/dexp/slurm-jobs`, else
 * `~/.cache/dexp/slurm-jobs`.
 *
 * @returns The absolute folder.
 */
export function defaultClientsDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const base = xdg && xdg.startsWith("/") ? xdg : join(Deno.env.get("HOME") ?? "/tmp", ".cache");
  return join(base, "dexp", "slurm-jobs");
}

/** The log file of a job's client. */
export function clientLog(dir: string, id: string): string {
  return join(dir, `${id}.log`);
}

/** A client's identity. */
export interface ClientId {
  readonly pid: number;
  readonly start: number;
}

async function readLog(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function identity(text: string): ClientId | null {
  const m = new RegExp(`^${CLIENT} (\\d+) (\\d+)\\n`).exec(text);
  return m ? { pid: Number(m[1]), start: Number(m[2]) } : null;
}

/** Whether the client still runs (same pid and start time, not a zombie). */
export function clientAlive(c: ClientId): boolean {
  const st = readProcStat(c.pid);
  return st !== undefined && !st.gone && st.startTicks === c.start;
}

/** What came of a start. */
export interface ClientStart {
  /** The client (null if it never wrote its identity). */
  readonly client: ClientId | null;
  /** The log's text after the identity line, when the start confirmed or the client ended. */
  readonly output: string;
  /** The client still runs (the start confirmed). */
  readonly running: boolean;
}

/**
 * Starts `srun ARGS` as a client that outlives this program, and waits until its output
 * has a line starting with one of `marks`, or it ended.
 *
 * @param dir The clients folder (made 0700).
 * @param id The job id (names the log).
 * @param args srun's arguments.
 * @param env Environment of srun.
 * @param marks Line prefixes that end the wait.
 * @returns The client and its output so far.
 */
export async function startClient(
  dir: string,
  id: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  marks: readonly string[],
): Promise<ClientStart> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const log = clientLog(dir, id);
  const out = await new Deno.Command("setsid", {
    args: ["-f", "/bin/sh", "-c", WRAP, "sh", log, "srun", ...args],
    env: { ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(log).catch(() => {});
    throw new Error(
      `Cannot start srun in a session of its own (setsid): ${
        new TextDecoder().decode(out.stderr).trim() || `exit code ${out.code}`
      }`,
    );
  }
  let pause = 20;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const text = await readLog(log) ?? "";
    const client = identity(text);
    if (client !== null) {
      const rest = text.slice(text.indexOf("\n") + 1);
      if (rest.split("\n").some((l) => marks.some((m) => l.startsWith(m + " ")))) {
        return { client, output: rest, running: clientAlive(client) };
      }
      if (!clientAlive(client)) {
        // It ended: read what it wrote last.
        const last = await readLog(log) ?? text;
        return { client, output: last.slice(last.indexOf("\n") + 1), running: false };
      }
    } else if (Date.now() > deadline) {
      return { client: null, output: text, running: false };
    }
    await sleep(pause);
    pause = Math.min(200, pause * 1.5);
  }
}

/**
 * Waits until the client of a job ended (SIGTERM after `grace` ms, SIGKILL later), then
 * removes its log when asked.
 *
 * @param dir The clients folder.
 * @param id The job id.
 * @param remove Remove the log.
 * @param grace How long the client may take to end by itself.
 */
export async function endClient(
  dir: string,
  id: string,
  remove: boolean,
  grace = 30_000,
): Promise<void> {
  const log = clientLog(dir, id);
  const text = await readLog(log);
  const client = text === null ? null : identity(text);
  if (client !== null) await waitEnded(client, grace);
  if (remove) await Deno.remove(log).catch(() => {});
}

/**
 * Waits until a client ended, signalling it when it takes longer than `grace` ms.
 *
 * @param c The client.
 * @param grace Time before SIGTERM (then SIGKILL after as long again).
 */
export async function waitEnded(c: ClientId, grace: number): Promise<void> {
  const start = Date.now();
  let sent: Deno.Signal | null = null;
  let pause = 20;
  while (clientAlive(c)) {
    const waited = Date.now() - start;
    const want: Deno.Signal | null = waited > 2 * grace + 5000
      ? null
      : waited > grace + 5000
      ? "SIGKILL"
      : waited > grace
      ? "SIGTERM"
      : null;
    if (waited > 2 * grace + 10_000) return;
    if (want !== null && want !== sent) {
      try {
        Deno.kill(c.pid, want);
      } catch {
        // Gone.
      }
      sent = want;
    }
    await sleep(pause);
    pause = Math.min(200, pause * 1.5);
  }
}
