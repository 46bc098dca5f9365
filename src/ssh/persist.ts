/**
 * Shared connections that outlive the program (`persist`): their private per-user folder,
 * socket names, the record of each one, and listing and closing them from any program.
 *
 * The folder is `$DEXP_PERSIST_DIR`, else `$XDG_RUNTIME_DIR/dexp`, else
 * `/tmp/dexp-UID/persist`; dexp creates it 0700 and refuses it when it is not a folder of
 * this user that only this user can enter. A socket's name is a hash of the host and every
 * connection parameter, so a program with any other parameter never uses it. Next to each
 * socket, `NAME.json` says which host it reaches (written atomically).
 *
 * @module
 */

import type { ConnectionParams } from "./params.ts";

/** What a persisted connection's record holds. */
export interface PersistedConnection {
  /** The host's name when it was set up. */
  readonly host: string;
  /** The ssh destination (address). */
  readonly destination: string;
  /** Login name, if set. */
  readonly user?: string;
  /** Port, if set. */
  readonly port?: number;
  /** The ssh program that set it up. */
  readonly ssh: string;
  /** Its control socket. */
  readonly socket: string;
  /** Seconds it stays open when idle (ControlPersist). */
  readonly persistSeconds: number;
  /** When it was set up (ISO 8601). */
  readonly created: string;
  /** Key exchange profile. */
  readonly kex: string;
}

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

/** Creates `path` 0700 if missing, then refuses it unless it is this user's private folder. */
function privateFolder(path: string): void {
  try {
    Deno.mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const st = Deno.lstatSync(path);
  const uid = Deno.uid();
  if (!st.isDirectory) {
    throw new Error(
      `Refusing persisted-connection folder '${path}': it is not a folder (remove it, or set DEXP_PERSIST_DIR)`,
    );
  }
  if (uid !== null && st.uid !== uid) {
    throw new Error(
      `Refusing persisted-connection folder '${path}': it is owned by uid ${st.uid}, not by this user (${uid}); remove it or set DEXP_PERSIST_DIR`,
    );
  }
  if (((st.mode ?? 0) & 0o077) !== 0) {
    throw new Error(
      `Refusing persisted-connection folder '${path}': its mode ${
        ((st.mode ?? 0) & 0o777).toString(8)
      } lets other users in: run chmod 700 on it`,
    );
  }
}

/**
 * The private folder of persisted connections, created (0700) and checked.
 *
 * @returns Its path.
 * @throws {Error} If it exists but belongs to someone else, is not a folder, or others may
 *   enter it.
 */
export function persistDir(): string {
  const own = env("DEXP_PERSIST_DIR");
  if (own) {
    privateFolder(own);
    return own;
  }
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) {
    const dir = `${runtime}/dexp`;
    privateFolder(dir);
    return dir;
  }
  const base = `/tmp/dexp-${Deno.uid() ?? "user"}`;
  privateFolder(base);
  const dir = `${base}/persist`;
  privateFolder(dir);
  return dir;
}

/** Most bytes of a socket path: sun_path is 108 bytes, and ssh binds `PATH.` + 16 first. */
const MAX_SOCKET_PATH = 90;

function canonical(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(canonical);
  return Object.fromEntries(
    Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
  );
}

/**
 * The control socket of a persisted connection: a hash of the host's address and every
 * connection parameter but `persist` (the key exchange profile as in effect, `$DEXP_KEX`
 * included), in {@linkcode persistDir}.
 *
 * @param host The host.
 * @param p Its effective parameters.
 * @param kex The key exchange profile in effect.
 * @returns The path.
 * @throws {Error} If the folder is refused, or the path would not fit in a socket address.
 */
export async function persistedSocket(
  host: { readonly address: string },
  p: ConnectionParams,
  kex: string,
): Promise<string> {
  // How long it stays open is not part of what it is: DEXP_PERSIST=1m and persist: "10m"
  // find the same connection (which keeps the ControlPersist it was set up with).
  const { persist: _, kex: __, ...rest } = p;
  const identity = JSON.stringify(canonical({ address: host.address, params: rest, kex }));
  // Web Crypto, not node:crypto: loading node's polyfill costs every program ~15 ms of CPU.
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(identity));
  const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"))
    .join("").slice(0, 32);
  const path = `${persistDir()}/${hash}`;
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
    throw new Error(
      `Persisted-connection socket path '${path}' is too long for a socket: set DEXP_PERSIST_DIR to a shorter folder`,
    );
  }
  return path;
}

/**
 * Whether a file may be used as our control socket: a socket owned by this user.
 *
 * @param path The path.
 * @returns `"ok"`, `"missing"` or `"foreign"` (anything else: to be replaced).
 */
export function socketState(path: string): "ok" | "missing" | "foreign" {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch {
    return "missing";
  }
  const uid = Deno.uid();
  return st.isSocket && (uid === null || st.uid === uid) ? "ok" : "foreign";
}

/**
 * Writes a persisted connection's record next to its socket (temp file, then rename).
 *
 * @param record The record.
 */
export function writeRecord(record: PersistedConnection): void {
  const path = `${record.socket}.json`;
  const tmp = `${path}.tmp-${Deno.pid}`;
  Deno.writeTextFileSync(tmp, JSON.stringify(record) + "\n", { mode: 0o600 });
  Deno.renameSync(tmp, path);
}

/**
 * Removes a persisted connection's files (socket, record, log).
 *
 * @param socket The socket path.
 */
export function removeFiles(socket: string): void {
  for (const f of [socket, `${socket}.json`, `${socket}.log`]) {
    try {
      Deno.removeSync(f);
    } catch {
      // Gone already.
    }
  }
}

/**
 * The records in the folder (alive or not; see `persistedConnections()`).
 *
 * @returns The records, oldest first.
 */
export function readRecords(): PersistedConnection[] {
  const dir = persistDir();
  const out: PersistedConnection[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    try {
      const r = JSON.parse(Deno.readTextFileSync(`${dir}/${e.name}`)) as PersistedConnection;
      if (typeof r.socket === "string" && r.socket === `${dir}/${e.name.slice(0, -5)}`) {
        out.push(r);
      }
    } catch {
      // Torn or foreign: ignored.
    }
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}
