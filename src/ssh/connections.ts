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
import { LaunchError } from "../process/target.ts";
import type { Host } from "./host.ts";
import { commonOptions, type ConnectionParams, DEFAULT_PARAMS } from "./params.ts";

const decoder = new TextDecoder();

interface Master {
  readonly key: string;
  socket: string;
  readonly ssh: string;
  readonly params: ConnectionParams;
  readonly destination: string;
  ready?: Promise<void>;
  lastUse: number;
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
let unloadHooked = false;

function controlDir(): string {
  if (!dir) {
    // Short and private: socket paths must fit in 108 bytes.
    const base = Deno.build.os === "linux" || Deno.build.os === "darwin" ? "/tmp" : undefined;
    dir = Deno.makeTempDirSync({ dir: base, prefix: "dexp-" });
    Deno.chmodSync(dir, 0o700);
  }
  return dir;
}

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    // Synchronous context: one background shell asks every master to exit, at once, and
    // only then removes the folder (the sockets are in it). ControlPersist is the backstop
    // if this program is killed instead.
    const exits = [...masters.values()].map((m) =>
      `${quoteArgv([m.ssh, "-o", `ControlPath=${m.socket}`, "-O", "exit", m.destination])} &`
    );
    const script = [...exits, "wait", dir ? `rm -rf -- ${quote(dir)}` : ""].join("\n");
    try {
      new Deno.Command("/bin/sh", {
        args: ["-c", script],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn().unref();
    } catch {
      // Nothing more can be done at exit.
    }
  });
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

async function setUp(m: Master, window: number): Promise<void> {
  let w = windows.get(window);
  if (!w) windows.set(window, w = new Window(window));
  await w.acquire();
  inFlight++;
  stats.setups++;
  if (inFlight > stats.peakSetups) stats.peakSetups = inFlight;
  const log = `${m.socket}.log`;
  let kept = false;
  try {
    const p = m.params;
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
      `ControlPersist=${p.controlPersist ?? DEFAULT_PARAMS.controlPersist}`,
      "-E",
      log,
      "-N",
      m.destination,
    ];
    let out: Deno.CommandOutput;
    // ssh's ConnectTimeout covers the TCP connection only; a login that stalls after it
    // (seen here once under load) must not hang the program: give up after a deadline.
    const deadline = ((p.connectTimeout ?? DEFAULT_PARAMS.connectTimeout) * 3 + 5) * 1000;
    let timedOut = false;
    try {
      const child = new Deno.Command(m.ssh, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
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
  });
}

async function isAlive(m: Master): Promise<boolean> {
  const r = await new Deno.Command(m.ssh, {
    args: ["-o", `ControlPath=${m.socket}`, "-O", "check", m.destination],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
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
      socket: `${controlDir()}/${counter++}`,
      ssh: p.ssh ?? DEFAULT_PARAMS.ssh,
      params: p,
      destination: destination(host),
      lastUse: 0,
    };
    masters.set(key, m);
    hookUnload();
  }
  const persistMs = (p.controlPersist ?? DEFAULT_PARAMS.controlPersist) * 1000;
  const window = p.connectWindow ?? DEFAULT_PARAMS.connectWindow;
  const master = m;
  if (master.ready && Date.now() - master.lastUse > persistMs * 0.8) {
    // Idle for most of its ControlPersist, the master may be gone: ask it, and if it is, set
    // up a new one on a new path (ssh refuses to be master on a path in use, and then stays
    // in the foreground as a plain connection). Concurrent callers wait for the same answer.
    master.lastUse = Date.now();
    master.ready = master.ready.then(() => isAlive(master), () => false).then((alive) => {
      if (alive) return;
      master.socket = `${controlDir()}/${counter++}`;
      return setUp(master, window);
    });
    forgetIfFailed(master);
  } else if (!master.ready) {
    master.ready = setUp(master, window);
    forgetIfFailed(master);
  }
  await m.ready;
  m.lastUse = Date.now();
  return ["-o", "ControlMaster=no", "-o", `ControlPath=${m.socket}`];
}

/**
 * Closes shared connections: those of the given hosts, or all.
 *
 * @param hosts Only these hosts' connections (default: every connection).
 * @returns Resolves when the masters have been asked to exit.
 */
export async function closeConnections(hosts?: Iterable<Host>): Promise<void> {
  // A set: a group may name the same host (and connection) more than once.
  const keys = new Set(hosts ? [...hosts].map((h) => keyOf(h, h.params)) : masters.keys());
  await Promise.all([...keys].map(async (k) => {
    const m = masters.get(k);
    if (!m) return;
    masters.delete(k);
    const wasUp = m.ready !== undefined && await m.ready.then(() => true, () => false);
    if (!wasUp) return;
    await new Deno.Command(m.ssh, {
      args: ["-o", `ControlPath=${m.socket}`, "-O", "exit", m.destination],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {});
  }));
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
