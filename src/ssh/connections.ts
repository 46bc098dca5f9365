/**
 * Connection reuse: one ssh master per host (ControlMaster), set up on first use, shared by
 * every later command, scp and rsync to that host, closed when the program ends.
 *
 * Masters are started with `ssh -N -o ControlMaster=yes -o ControlPersist=N`: the foreground
 * process exits once logged in and the master stays in the background, logging to a file in
 * a private (0700) directory, so it holds none of our pipes. A master whose owner died exits
 * after ControlPersist seconds of idleness.
 *
 * @module
 */

import { Window } from "../process/window.ts";
import { quote, quoteArgv } from "../process/quote.ts";
import { onExit, type Stoppable, stopTracked, track, untrack } from "../process/reaper.ts";
import { LaunchError } from "../process/target.ts";
import type { Host } from "./host.ts";
import { commonOptions, type ConnectionParams, DEFAULT_PARAMS } from "./params.ts";

const decoder = new TextDecoder();

interface Master {
  readonly key: string;
  socket: string;
  readonly ssh: string;
  readonly destination: string;
  ready?: Promise<void>;
  lastUse: number;
  /** ControlPersist of the master now up (set by the group that set it up), in ms. */
  persistMs: number;
}

/** Counters, for tests and benchmarks. */
export interface ConnectionStats {
  /** Connections set up (successful or not). */
  setups: number;
  /** Most setups in progress at once. */
  peakSetups: number;
  /** Connections open now. */
  open: number;
}

let dir: string | undefined;
const masters = new Map<string, Master>();
const windows = new Map<number, Window>();
let inFlight = 0;
let counter = 0;
const stats = { setups: 0, peakSetups: 0 };
/** Most time a `-O check` or `-O exit` call to a local master may take, in ms. */
const CONTROL_DEADLINE = 10_000;

function controlDir(): string {
  if (!dir) {
    // Short and private: socket paths must fit in 108 bytes.
    const base = Deno.build.os === "linux" || Deno.build.os === "darwin" ? "/tmp" : undefined;
    dir = Deno.makeTempDirSync({ dir: base, prefix: "dexp-" });
    Deno.chmodSync(dir, 0o700);
  }
  return dir;
}

let unhook: (() => void) | undefined;

/**
 * While a master is up or being set up, the end of the program (also on a signal or an
 * uncaught error), after the remote commands still running have been killed over them, asks
 * every master to exit, at once, and only then removes the folder (the sockets are in it).
 * ControlPersist is the backstop if this program is SIGKILLed. With no master left, the
 * folder goes at once, and signals are left alone.
 */
function syncExitHook(): void {
  const active = [...masters.values(), ...closing].some((m) => m.ready !== undefined);
  if (active && !unhook) {
    unhook = onExit(() => {
      const exits = [...masters.values(), ...closing].map((m) =>
        `${quoteArgv([m.ssh, "-o", `ControlPath=${m.socket}`, "-O", "exit", m.destination])} ` +
        ">/dev/null 2>&1 &"
      );
      return [...exits, "wait", dir ? `rm -rf -- ${quote(dir)}` : ""].join("\n");
    });
  } else if (!active && unhook) {
    unhook();
    unhook = undefined;
    if (dir) {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Removed already.
      }
      dir = undefined;
    }
  }
}

/** Masters being closed by closeConnections(), still to be exited at the end if need be. */
const closing = new Set<Master>();

/**
 * The deadline of a login (TCP connection, banner, key exchange, authentication) in ms:
 * ssh's ConnectTimeout covers the TCP connection only.
 *
 * @param p Effective parameters.
 * @returns Milliseconds.
 */
export function loginDeadline(p: ConnectionParams): number {
  return ((p.connectTimeout ?? DEFAULT_PARAMS.connectTimeout) * 3 + 5) * 1000;
}

/** Runs a local ssh control command, SIGKILLed after a deadline; null if it did not run. */
async function control(ssh: string, args: string[]): Promise<Deno.CommandStatus | null> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(ssh, { args, stdin: "null", stdout: "null", stderr: "null" })
      .spawn();
  } catch {
    return null;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, CONTROL_DEADLINE);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The ssh destination for a host: its address (the user and port travel as options).
 *
 * @param host The host.
 * @returns The destination word.
 */
export function destination(host: Host): string {
  return host.address;
}

/**
 * The identity of a host's shared connection: the settings that make a different login.
 * Settings of how to set it up (connectTimeout, controlPersist, connectWindow) are not part
 * of it: each group's own apply to its setups.
 *
 * @param host The host.
 * @returns A key, equal for hosts that share a connection.
 */
export function connectionKey(host: Host): string {
  return keyOf(host, host.params);
}

function keyOf(host: Host, p: ConnectionParams): string {
  return JSON.stringify([
    p.ssh,
    host.address,
    p.port,
    p.user,
    p.keyfile,
    p.knownHosts,
    p.configFile,
    p.proxyJump,
    p.strictHostKeyChecking,
    p.options,
  ]);
}

/** The last meaningful line of ssh's complaint, e.g. "Connection refused". */
export function sshReason(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("debug") && !l.startsWith("Warning: Permanently added")
  );
  return lines.at(-1) ?? "ssh exited with code 255 and said nothing";
}

async function setUp(m: Master, p: ConnectionParams): Promise<void> {
  const window = p.connectWindow ?? DEFAULT_PARAMS.connectWindow;
  let w = windows.get(window);
  if (!w) windows.set(window, w = new Window(window));
  await w.acquire();
  inFlight++;
  stats.setups++;
  if (inFlight > stats.peakSetups) stats.peakSetups = inFlight;
  const log = `${m.socket}.log`;
  let kept = false;
  try {
    const persist = p.controlPersist ?? DEFAULT_PARAMS.controlPersist;
    const args = [
      // INFO into the master's log (-E): why it lost the connection ("Timeout, server ...
      // not responding"), read by remote commands that lost it (remote.ts).
      ...commonOptions(p, "INFO"),
      ...(p.port ? ["-p", String(p.port)] : []),
      "-o",
      "ControlMaster=yes",
      "-o",
      `ControlPath=${m.socket}`,
      "-o",
      `ControlPersist=${persist}`,
      "-E",
      log,
      "-N",
      m.destination,
    ];
    let out: Deno.CommandOutput;
    // ssh's ConnectTimeout covers the TCP connection only; a login that stalls after it
    // (seen here once under load) must not hang the program: give up after a deadline.
    const deadline = loginDeadline(p);
    let timedOut = false;
    try {
      const child = new Deno.Command(m.ssh, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // A signal during the setup stops it, and the end of the program closes the master.
      const setup: Stoppable = {
        interrupt: async () => {
          try {
            child.kill("SIGTERM");
          } catch {
            // Exited meanwhile.
          }
          await child.status;
        },
        forceKill: () => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited meanwhile.
          }
        },
      };
      track(setup);
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }, deadline);
      try {
        out = await child.output();
      } finally {
        clearTimeout(timer);
        untrack(setup);
      }
    } catch (e) {
      throw new LaunchError(
        "spawn",
        e instanceof Deno.errors.NotFound
          ? `ssh program '${m.ssh}' not found: install openssh-client or set 'ssh' in the connection parameters`
          : (e as Error).message,
      );
    }
    if (timedOut) {
      throw new LaunchError(
        "connect",
        `ssh did not finish logging in within ${
          deadline / 1000
        } s (raise 'connectTimeout' for slow hosts)`,
      );
    }
    if (out.code !== 0) {
      let text = decoder.decode(out.stderr);
      try {
        text += Deno.readTextFileSync(log);
      } catch {
        // No log written.
      }
      throw new LaunchError("connect", sshReason(text), text);
    }
    m.persistMs = persist * 1000;
    kept = true;
  } finally {
    try {
      // A running master keeps its log (removed with the folder at exit).
      if (!kept) Deno.removeSync(log);
    } catch {
      // Not written.
    }
    inFlight--;
    w.release();
  }
}

/** A failed setup is not cached: the next command tries again. */
function forgetIfFailed(m: Master): void {
  const ready = m.ready!;
  ready.catch(() => {
    if (m.ready === ready) m.ready = undefined;
    syncExitHook();
  });
}

async function isAlive(m: Master): Promise<boolean> {
  const r = await control(m.ssh, ["-o", `ControlPath=${m.socket}`, "-O", "check", m.destination]);
  return r?.code === 0;
}

/**
 * Makes sure a shared connection to the host is up, and returns the ssh options that use it.
 * With `reuse: false`, returns no options (every command connects on its own).
 *
 * @param host The host.
 * @returns Options to add to ssh/scp/rsync (`-o ControlPath=... -o ControlMaster=no`).
 * @throws {LaunchError} If the connection cannot be set up (`connect`) or ssh is missing.
 */
export async function connect(host: Host): Promise<string[]> {
  const p = host.params;
  if (p.reuse === false) return [];
  const key = keyOf(host, p);
  let m = masters.get(key);
  if (!m) {
    m = {
      key,
      socket: "",
      ssh: p.ssh ?? DEFAULT_PARAMS.ssh,
      destination: destination(host),
      lastUse: 0,
      persistMs: 0,
    };
    masters.set(key, m);
  }
  const master = m;
  if (
    master.ready && master.persistMs > 0 && Date.now() - master.lastUse > master.persistMs * 0.8
  ) {
    // Idle for most of its ControlPersist, the master may be gone: ask it, and if it is, set
    // up a new one on a new path (ssh refuses to be master on a path in use, and then stays
    // in the foreground as a plain connection). Concurrent callers wait for the same answer.
    master.lastUse = Date.now();
    master.ready = master.ready.then(() => isAlive(master), () => false).then((alive) => {
      if (alive) return;
      master.socket = `${controlDir()}/${counter++}`;
      return setUp(master, p);
    });
    forgetIfFailed(master);
    syncExitHook();
  } else if (!master.ready) {
    master.socket = `${controlDir()}/${counter++}`;
    master.ready = setUp(master, p);
    forgetIfFailed(master);
    syncExitHook();
  }
  await m.ready;
  m.lastUse = Date.now();
  return ["-o", "ControlMaster=no", "-o", `ControlPath=${m.socket}`];
}

/**
 * Closes shared connections: those of the given hosts, or all. The commands still running
 * over them (or, with `reuse: false`, to those hosts) are stopped first, so that nothing they
 * started outlives them on the hosts.
 *
 * @param hosts Only these hosts' connections (default: every connection).
 * @returns Resolves when the commands have ended and the masters have been asked to exit.
 */
export async function closeConnections(hosts?: Iterable<Host>): Promise<void> {
  // A set: a group may name the same host (and connection) more than once.
  const keys = hosts ? new Set([...hosts].map((h) => keyOf(h, h.params))) : null;
  await stopTracked((p) => p.connection !== undefined && (keys === null || keys.has(p.connection)));
  await Promise.all([...(keys ?? new Set(masters.keys()))].map(async (k) => {
    const m = masters.get(k);
    if (!m) return;
    masters.delete(k);
    closing.add(m);
    try {
      const wasUp = m.ready !== undefined && await m.ready.then(() => true, () => false);
      if (!wasUp) return;
      await control(m.ssh, ["-o", `ControlPath=${m.socket}`, "-O", "exit", m.destination]);
    } finally {
      closing.delete(m);
    }
  }));
  syncExitHook();
}

/**
 * Counters of connection setups, for tests and benchmarks.
 *
 * @returns The counters.
 */
export function connectionStats(): ConnectionStats {
  return { ...stats, open: [...masters.values()].filter((m) => m.ready).length };
}

/** Resets the setup counters (not the connections). */
export function resetConnectionStats(): void {
  stats.setups = 0;
  stats.peakSetups = 0;
}
