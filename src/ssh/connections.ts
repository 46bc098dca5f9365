/**
 * Connection reuse: one ssh master per host (ControlMaster), set up on first use, shared by
 * every later command, scp and rsync to that host, closed when the program ends.
 *
 * The first command to a host sets up its master itself (see {@linkcode Lead}): one ssh
 * process and one login. Otherwise (a persisted connection, a retry of a dropped login, a
 * master gone idle) masters are started with `ssh -N -o ControlMaster=yes -o ControlPersist=N`.
 * Either way, once logged in the master goes to the background, logging to a file in a
 * private (0700) directory, so it holds none of our pipes. A master whose owner died exits
 * after ControlPersist seconds of idleness.
 *
 * @module
 */

import {
  LaunchError,
  onExit,
  quote,
  quoteArgv,
  type Stoppable,
  stopTracked,
  track,
  untrack,
} from "../process/mod.ts";
import { connectReason } from "./connect_reason.ts";
import { makeControlDir } from "./control_dir.ts";
import { muxAlive, muxTerminate } from "./mux.ts";
import { ConnectWindow, type ConnectWindowStats, type LoginOutcome } from "./connect_window.ts";
import {
  type ConnectionParams,
  connectTimeoutSeconds,
  controlPersistSeconds,
  DEFAULT_PARAMS,
  type Endpoint,
  sshPrefix,
} from "./params.ts";
import { effectiveKex, persistSeconds } from "./profile.ts";
import {
  type PersistedConnection,
  persistedSocket,
  readRecords,
  removeFiles,
  socketState,
  writeRecord,
} from "./persist.ts";

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
  /** A master that outlives the program (`persist`): never closed at its end. */
  persisted: boolean;
}

/** Counters, for tests and benchmarks. */
export interface ConnectionStats {
  /** Connections set up (successful or not). */
  setups: number;
  /** Most setups in progress at once. */
  peakSetups: number;
  /** Connections open now. */
  open: number;
  /** Logins retried because the host dropped them before authentication (MaxStartups). */
  retries: number;
  /** Persisted connections of an earlier program found alive and used. */
  reused: number;
}

let dir: string | undefined;
const masters = new Map<string, Master>();
const windows = new Map<number, ConnectWindow>();
let inFlight = 0;
let counter = 0;
const stats = { setups: 0, peakSetups: 0, retries: 0, reused: 0 };
/** ssh processes started for commands and master setups (see sshSpawns). */
let spawns = 0;
/** Most retries of a login the host dropped before authentication. */
const MAX_RETRIES = 8;
/** Most time a `-O check` or `-O exit` call to a local master may take, in ms. */
const CONTROL_DEADLINE = 10_000;

function controlDir(): string {
  dir ??= makeControlDir();
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
  const active = [...masters.values(), ...closing].some((m) =>
    m.ready !== undefined && !m.persisted
  );
  if (active && !unhook) {
    unhook = onExit(() => {
      const exits = [...masters.values(), ...closing].filter((m) => !m.persisted).map((m) =>
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
  return (connectTimeoutSeconds(p) * 3 + 5) * 1000;
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
 * Asks a master to exit: over its socket (no process), else with `ssh -O exit`.
 */
async function exitMaster(ssh: string, socket: string, dest: string): Promise<void> {
  if (await muxTerminate(socket, CONTROL_DEADLINE)) return;
  await control(ssh, ["-o", `ControlPath=${socket}`, "-O", "exit", dest]);
}

/**
 * The ssh destination for a host: its address (the user and port travel as options).
 *
 * @param host The host.
 * @returns The destination word.
 */
export function destination(host: Endpoint): string {
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
export function connectionKey(host: Endpoint): string {
  return keyOf(host, host.params);
}

function keyOf(host: Endpoint, p: ConnectionParams): string {
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
    effectiveKex(p),
    persistSeconds(p) > 0,
  ]);
}

/**
 * Whether ssh's complaint says the host dropped the login before authentication, as sshd
 * does beyond MaxStartups ("kex_exchange_identification: read: Connection reset by peer",
 * "Connection closed by remote host"): worth another try a little later.
 *
 * @param stderr What ssh said.
 * @returns Whether to retry.
 */
export function droppedLogin(stderr: string): boolean {
  return /kex_exchange_identification|banner exchange|Connection reset by peer|Connection closed by (remote host|\S+ port \d+)\s*$/m
    .test(stderr) && !/Permission denied|Host key verification failed/.test(stderr);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The pause before retry `attempt` (0 first) of a dropped login: jittered, growing. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(2000, 50 * 2 ** attempt) + 10;
}

/** The connect window of a `connectWindow` ceiling (one per ceiling, shared by groups). */
function windowOf(p: ConnectionParams): ConnectWindow {
  const size = p.connectWindow ?? DEFAULT_PARAMS.connectWindow;
  let w = windows.get(size);
  if (!w) windows.set(size, w = new ConnectWindow(size));
  return w;
}

/**
 * Sets up a master, retrying (with jittered exponential backoff, outside the connect window)
 * logins the host dropped before authentication.
 */
async function setUp(m: Master, p: ConnectionParams, persist: number): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      return await setUpOnce(m, p, persist);
    } catch (e) {
      if (
        !(e instanceof LaunchError) || e.failure !== "connect" || attempt >= MAX_RETRIES ||
        !droppedLogin(e.stderr || e.message)
      ) throw e;
      stats.retries++;
      await sleep(backoff(attempt));
    }
  }
}

async function setUpOnce(m: Master, p: ConnectionParams, persist: number): Promise<void> {
  const w = windowOf(p);
  const ticket = await w.acquire();
  inFlight++;
  stats.setups++;
  if (inFlight > stats.peakSetups) stats.peakSetups = inFlight;
  const log = `${m.socket}.log`;
  let kept = false;
  let outcome: LoginOutcome = "failed";
  try {
    const args = [
      // INFO into the master's log (-E): why it lost the connection ("Timeout, server ...
      // not responding"), read by remote commands that lost it (remote.ts).
      ...sshPrefix(p, { logLevel: "INFO" }),
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
      spawns++;
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
      if (droppedLogin(text)) outcome = "dropped";
      throw new LaunchError("connect", connectReason(text, p, m.destination), text);
    }
    m.persistMs = persist * 1000;
    kept = true;
    outcome = "ok";
  } finally {
    try {
      // A running master keeps its log (removed with the folder at exit).
      if (!kept) Deno.removeSync(log);
    } catch {
      // Not written.
    }
    inFlight--;
    w.release(ticket, outcome);
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
  // Over the socket first: a persisted connection is checked by every program that uses it.
  const state = await muxAlive(m.socket, CONTROL_DEADLINE);
  if (state !== "unknown") return state === "alive";
  const r = await control(m.ssh, ["-o", `ControlPath=${m.socket}`, "-O", "check", m.destination]);
  return r?.code === 0;
}

/**
 * Sets up the master of a connection: in this program's folder, or, with `persist`, in the
 * persisted-connection folder, where a master left by an earlier program with the same
 * parameters is used if it answers (`ssh -O check`) and its socket is this user's; a dead or
 * foreign one is replaced.
 */
async function establish(m: Master, host: Endpoint, p: ConnectionParams): Promise<void> {
  const persist = persistSeconds(p);
  if (persist === 0) {
    m.socket = `${controlDir()}/${counter++}`;
    return await setUp(m, p, controlPersistSeconds(p));
  }
  m.persisted = true;
  const socket = await persistedSocket(host, p, effectiveKex(p));
  m.socket = socket;
  if (socketState(socket) === "ok" && await isAlive(m)) {
    stats.reused++;
    // The master keeps the ControlPersist it was set up with (its record says which).
    let kept = persist;
    try {
      kept = JSON.parse(Deno.readTextFileSync(`${socket}.json`)).persistSeconds ?? persist;
    } catch {
      // No record: assume ours.
    }
    m.persistMs = Math.min(kept, persist) * 1000;
    return;
  }
  removeFiles(socket);
  // ssh refuses to be master on a path in use (another program may be setting up the same
  // connection): set up on a path of our own, then rename it into place.
  m.socket = `${socket}.${nonce()}`;
  try {
    await setUp(m, p, persist);
    Deno.renameSync(m.socket, socket);
  } catch (e) {
    removeFiles(m.socket);
    throw e;
  }
  m.socket = socket;
  writeRecord({
    host: host.name,
    destination: m.destination,
    ...(p.user ? { user: p.user } : {}),
    ...(p.port ? { port: p.port } : {}),
    ssh: m.ssh,
    socket,
    persistSeconds: persist,
    created: new Date().toISOString(),
    kex: effectiveKex(p),
  });
}

function nonce(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * Makes sure a shared connection to the host is up, and returns the ssh options that use it.
 * With `reuse: false`, returns no options (every command connects on its own).
 *
 * @param host The host.
 * @returns Options to add to ssh/scp/rsync (`-o ControlPath=... -o ControlMaster=no`).
 * @throws {LaunchError} If the connection cannot be set up (`connect`) or ssh is missing.
 */
export async function connect(host: Endpoint): Promise<string[]> {
  const p = host.params;
  if (p.reuse === false) return [];
  const master = masterOf(host, p);
  const m = master;
  if (
    master.ready && master.persistMs > 0 && Date.now() - master.lastUse > master.persistMs * 0.8
  ) {
    // Idle for most of its ControlPersist, the master may be gone: ask it, and if it is, set
    // up a new one on a new path (ssh refuses to be master on a path in use, and then stays
    // in the foreground as a plain connection). Concurrent callers wait for the same answer.
    master.lastUse = Date.now();
    master.ready = master.ready.then(() => isAlive(master), () => false).then((alive) => {
      if (alive) return;
      return establish(master, host, p);
    });
    forgetIfFailed(master);
    syncExitHook();
  } else if (!master.ready) {
    master.ready = establish(master, host, p);
    forgetIfFailed(master);
    syncExitHook();
  }
  await m.ready;
  m.lastUse = Date.now();
  return clientOptions(m);
}

function clientOptions(m: Master): string[] {
  return ["-o", "ControlMaster=no", "-o", `ControlPath=${m.socket}`];
}

function masterOf(host: Endpoint, p: ConnectionParams): Master {
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
      persisted: false,
    };
    masters.set(key, m);
  }
  return m;
}

/**
 * The first command to a host sets up the shared connection itself: its ssh is started as
 * the master (`-o ControlMaster=yes -o ControlPersist=N`), so one ssh process and one login
 * serve both. Once logged in, ssh forks the master into the background and its foreground
 * process runs the command as a client of it; the master stays after the command ends.
 * Other commands to the host wait until the remote shell's marker tells that the login is
 * done, then use the socket.
 */
export interface Lead {
  /** ssh options that make the command's ssh the master (with its log, `-E`). */
  readonly options: readonly string[];
  /** ssh options of a client of the connection (for the remote kill, once logged in). */
  readonly client: readonly string[];
  /** The master's log: ssh's own messages (login failures, a lost connection). */
  readonly log: string;
  /**
   * What the log says: as read when the login ended without the marker (a failed setup
   * removes the folder, log included, as soon as the waiting commands are told), else read
   * now.
   */
  logText(): string;
  /** The remote shell printed its marker: logged in, the socket is up. */
  up(): void;
  /**
   * The command's ssh ended without the marker. Returns whether the host dropped the login
   * before authentication (MaxStartups): the command never ran, and may be started again,
   * over a connection set up on its own (with retries).
   *
   * @param stalled Whether the login was given up after its deadline.
   */
  ended(stalled: boolean): boolean;
}

function readLog(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * Like {@linkcode connect}, but the first command to a host that has no connection yet (and
 * none being set up) is told to set it up itself: see {@linkcode Lead}. Persisted
 * connections (`persist`) are set up on their own, as before.
 *
 * @param host The host.
 * @returns Options to add to ssh (as {@linkcode connect}), or a lead for the first command.
 * @throws {LaunchError} If the connection cannot be set up (`connect`) or ssh is missing.
 */
export async function connectOrLead(host: Endpoint): Promise<string[] | Lead> {
  const p = host.params;
  if (p.reuse === false || persistSeconds(p) > 0) return await connect(host);
  const m = masterOf(host, p);
  if (m.ready) return await connect(host);
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  m.ready = new Promise<void>((res, rej) => [resolve, reject] = [res, rej]);
  forgetIfFailed(m);
  m.socket = `${controlDir()}/${counter++}`;
  syncExitHook();
  const persist = controlPersistSeconds(p);
  const w = windowOf(p);
  const ticket = await w.acquire();
  inFlight++;
  stats.setups++;
  if (inFlight > stats.peakSetups) stats.peakSetups = inFlight;
  const socket = m.socket;
  const log = `${socket}.log`;
  let settled = false;
  let endText: string | undefined;
  const release = (outcome: LoginOutcome): boolean => {
    if (settled) return false;
    settled = true;
    inFlight--;
    w.release(ticket, outcome);
    return true;
  };
  const isUp = (): void => {
    m.persistMs = persist * 1000;
    m.lastUse = Date.now();
    resolve();
  };
  // Set up on its own (with retries), on a new path: the old log holds the failed login.
  const alone = (): void => {
    try {
      Deno.removeSync(log);
    } catch {
      // Not written.
    }
    m.socket = `${controlDir()}/${counter++}`;
    sleep(backoff(0)).then(() => setUp(m, p, persist)).then(isUp, reject);
  };
  return {
    options: [
      "-o",
      "ControlMaster=yes",
      "-o",
      `ControlPath=${socket}`,
      "-o",
      `ControlPersist=${persist}`,
      "-E",
      log,
    ],
    client: ["-o", "ControlMaster=no", "-o", `ControlPath=${socket}`],
    log,
    logText(): string {
      return endText ?? readLog(log);
    },
    up(): void {
      if (release("ok")) isUp();
    },
    ended(stalled: boolean): boolean {
      if (settled) return false;
      const text = stalled ? "" : readLog(log);
      endText = text;
      const dropped = droppedLogin(text);
      release(dropped ? "dropped" : "failed");
      if (stalled) {
        reject(
          new LaunchError(
            "connect",
            `ssh did not finish logging in within ${
              loginDeadline(p) / 1000
            } s (raise 'connectTimeout' for slow hosts)`,
          ),
        );
        return false;
      }
      if (dropped) {
        stats.retries++;
        alone();
        return true;
      }
      // Logged in but ended before the marker (killed, a shell that did not run it): the
      // master may be up. Else the login failed: the waiting commands fail as it did.
      isAlive(m).then((alive) => {
        if (alive) return isUp();
        const reason = text.split("\n").some((l) => l.trim() !== "");
        if (reason) reject(new LaunchError("connect", connectReason(text, p, m.destination), text));
        else alone();
      });
      return false;
    },
  };
}

/**
 * A command over the host's shared connection lost it: the next command asks the master
 * whether it is still up (`-O check`) before using it, and sets up a new one if not (a dying
 * master's socket may still be there, refusing clients).
 *
 * @param host The host.
 */
export function suspectConnection(host: Endpoint): void {
  const m = masters.get(keyOf(host, host.params));
  if (m) m.lastUse = 0;
}

/**
 * How many ssh processes dexp started for commands and for setting up connections (not the
 * short control and kill commands), for tests and benchmarks.
 *
 * @returns The count since the program started.
 */
export function sshSpawns(): number {
  return spawns;
}

/** Counts an ssh process started for a command (called by the remote target). */
export function countSpawn(): void {
  spawns++;
}

/**
 * Closes shared connections: those of the given hosts, or all. The commands still running
 * over them (or, with `reuse: false`, to those hosts) are stopped first, so that nothing they
 * started outlives them on the hosts. Persisted connections (`persist`) stay open for the
 * next program: close them with {@linkcode closePersisted} (`dexp connections close`).
 *
 * @param hosts Only these hosts' connections (default: every connection).
 * @returns Resolves when the commands have ended and the masters have been asked to exit.
 *
 * @example
 * ```ts
 * import { closeConnections, hosts } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const nodes = hosts("n1", "n2"); // no command ran: nothing is open
 * await closeConnections(nodes); // ends their shared ssh connections (masters), if any
 * strictEqual(nodes.length, 2);
 * ```
 */
export async function closeConnections(hosts?: Iterable<Endpoint>): Promise<void> {
  // A set: a group may name the same host (and connection) more than once.
  const keys = hosts ? new Set([...hosts].map((h) => keyOf(h, h.params))) : null;
  await stopTracked((p) => p.connection !== undefined && (keys === null || keys.has(p.connection)));
  await Promise.all([...(keys ?? new Set(masters.keys()))].map(async (k) => {
    const m = masters.get(k);
    if (!m) return;
    masters.delete(k);
    if (m.persisted) return;
    closing.add(m);
    try {
      const wasUp = m.ready !== undefined && await m.ready.then(() => true, () => false);
      if (!wasUp) return;
      await exitMaster(m.ssh, m.socket, m.destination);
    } finally {
      closing.delete(m);
    }
  }));
  syncExitHook();
}

/** A persisted connection, as {@linkcode persistedConnections} reports it. */
export interface PersistedConnectionInfo extends PersistedConnection {
  /** Whether its master answered (`ssh -O check`). */
  readonly alive: boolean;
}

function recordMaster(r: PersistedConnection): Master {
  return {
    key: "",
    socket: r.socket,
    ssh: r.ssh,
    destination: r.destination,
    lastUse: 0,
    persistMs: 0,
    persisted: true,
  };
}

/**
 * The connections kept open by programs with `persist` (this user's), each checked with
 * `ssh -O check`. The files of dead ones are removed (unless `keepDead`).
 *
 * @param options `keepDead: true` lists dead ones too and leaves their files.
 * @returns The connections, oldest first.
 * @throws {Error} If the persisted-connection folder is refused (see `persistDir`).
 *
 * @example
 * ```ts ignore
 * import { persistedConnections } from "@dexp/dexp";
 * for (const c of await persistedConnections()) console.log(c.host, c.alive);
 * ```
 */
export async function persistedConnections(
  options: { keepDead?: boolean } = {},
): Promise<PersistedConnectionInfo[]> {
  const records = readRecords();
  const out = await Promise.all(records.map(async (r) => {
    const alive = socketState(r.socket) === "ok" && await isAlive(recordMaster(r));
    if (!alive && !options.keepDead) removeFiles(r.socket);
    return { ...r, alive };
  }));
  return out.filter((c) => c.alive || options.keepDead);
}

/**
 * Closes persisted connections (`ssh -O exit`, then removes their files): every one, or those
 * whose host name or destination is among `hosts`.
 *
 * @param hosts Host names or addresses (default: all).
 * @returns The connections closed.
 * @throws {Error} If the persisted-connection folder is refused.
 *
 * @example
 * ```ts ignore
 * import { closePersisted } from "@dexp/dexp";
 * await closePersisted(); // every persisted connection of this user
 * ```
 */
export async function closePersisted(
  hosts?: readonly string[],
): Promise<PersistedConnection[]> {
  const chosen = readRecords().filter((r) =>
    hosts === undefined || hosts.includes(r.host) || hosts.includes(r.destination)
  );
  await Promise.all(chosen.map(async (r) => {
    if (socketState(r.socket) === "ok") {
      await exitMaster(r.ssh, r.socket, r.destination);
    }
    removeFiles(r.socket);
    // This program's own handle on it is stale now.
    for (const [k, m] of masters) if (m.socket === r.socket) masters.delete(k);
  }));
  return chosen;
}

/**
 * Counters of connection setups, for tests and benchmarks.
 *
 * @returns The counters.
 */
export function connectionStats(): ConnectionStats {
  return { ...stats, open: [...masters.values()].filter((m) => m.ready).length };
}

/**
 * Counters of the connect window (the one of the default `connectWindow`, or of `ceiling`):
 * how far dropped logins shrank it.
 *
 * @param ceiling The `connectWindow` whose window to report (default: the default one).
 * @returns The counters; a window not used yet reports its ceiling.
 */
export function connectWindowStats(
  ceiling: number = DEFAULT_PARAMS.connectWindow,
): ConnectWindowStats {
  return (windows.get(ceiling) ?? new ConnectWindow(ceiling)).stats;
}

/** Resets the setup counters (not the connections). */
export function resetConnectionStats(): void {
  stats.setups = 0;
  stats.peakSetups = 0;
  stats.retries = 0;
  stats.reused = 0;
}
