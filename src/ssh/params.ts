/**
 * Connection parameters: how `ssh`, `scp` and `rsync` reach a host.
 *
 * @module
 */

import { type Duration, quote, resolve, toMillis } from "../process/mod.ts";
import { makeControlDir } from "./control_dir.ts";
import { checkProfile, type Kex, kexOptions } from "./profile.ts";

/** How to reach hosts; set per group with `.with()` or per host. */
export interface ConnectionParams {
  /** The ssh program (default `ssh`). */
  ssh?: string;
  /** The scp program (default `scp`). */
  scp?: string;
  /** The rsync program (default `rsync`). */
  rsync?: string;
  /** Login name. */
  user?: string;
  /** Port. */
  port?: number;
  /** Private key file (`-i`, with IdentitiesOnly). `~/` is expanded. */
  keyfile?: string;
  /** known_hosts file (UserKnownHostsFile). */
  knownHosts?: string;
  /**
   * ssh_config file. What it sets wins over dexp's defaults (it is included, first, by a
   * generated private config that then sets the defaults); explicit parameters and `options`
   * win over it.
   */
  configFile?: string;
  /**
   * How long to wait for a connection (ConnectTimeout; a Duration: `"10s"`, or ms; whole
   * seconds, at least 1 s; default `"10s"`).
   */
  connectTimeout?: Duration;
  /** Jump host(s) (`-J`). */
  proxyJump?: string;
  /**
   * Host key policy (StrictHostKeyChecking): `accept-new` by default (new hosts are
   * recorded, changed keys refused). `no` only when you ask for it.
   */
  strictHostKeyChecking?: "yes" | "accept-new" | "no" | "ask";
  /** Reuse one connection per host (ControlMaster); default true. */
  reuse?: boolean;
  /**
   * How long an idle shared connection stays open (ControlPersist; a Duration: `"5m"`, or
   * ms; whole seconds, at least 1 s; default `"5m"`).
   */
  controlPersist?: Duration;
  /** How many connections may be set up at once (default 32). */
  connectWindow?: number;
  /** Extra `-o Name=value` options; they win over dexp's defaults and the `configFile`. */
  options?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Key exchange: `"fast"` puts curve25519 first (about a third of the CPU of a login with
   * OpenSSH 9's post-quantum default; no post-quantum protection of recorded traffic);
   * default `$DEXP_KEX`, else `"default"` (ssh's own choice). See {@linkcode kexOptions}.
   */
  kex?: Kex;
  /**
   * Keep shared connections open after the program ends, for this long when idle (a
   * Duration: `"10m"`, or ms), so that the next program starts warm; default
   * `$DEXP_PERSIST`, else off. See `persistedConnections()`.
   */
  persist?: Duration;
}

/**
 * What the connection layer needs of a host: its name, address and effective parameters.
 * A {@linkcode Host} is one; the connection code takes this shape so that it does not import
 * the host module (which imports it: no cycle).
 */
export interface Endpoint {
  /** Short name, for messages. */
  readonly name: string;
  /** Address to connect to. */
  readonly address: string;
  /** Effective connection parameters. */
  readonly params: ConnectionParams;
}

/**
 * The connect timeout of these parameters in whole seconds (ssh's ConnectTimeout unit).
 *
 * @param p The parameters.
 * @returns Seconds, at least 1.
 */
export function connectTimeoutSeconds(p: ConnectionParams): number {
  return wholeSeconds(p.connectTimeout ?? DEFAULT_PARAMS.connectTimeout, "connectTimeout");
}

/**
 * How long an idle shared connection stays open, in whole seconds (ssh's ControlPersist unit).
 *
 * @param p The parameters.
 * @returns Seconds, at least 1.
 */
export function controlPersistSeconds(p: ConnectionParams): number {
  return wholeSeconds(p.controlPersist ?? DEFAULT_PARAMS.controlPersist, "controlPersist");
}

function wholeSeconds(d: Duration, what: string): number {
  return Math.max(1, Math.ceil(toMillis(d, what) / 1000));
}

/** Defaults of {@linkcode ConnectionParams}. */
export const DEFAULT_PARAMS = {
  ssh: "ssh",
  scp: "scp",
  rsync: "rsync",
  connectTimeout: "10s",
  strictHostKeyChecking: "accept-new",
  reuse: true,
  controlPersist: "5m",
  connectWindow: 32,
} as const;

function expandHome(path: string): string {
  if (path === "~" || path.startsWith("~/")) {
    const home = Deno.env.get("HOME");
    if (home) return home + path.slice(1);
  }
  return path;
}

const PARAM_KEYS = new Set([
  "ssh",
  "scp",
  "rsync",
  "user",
  "port",
  "keyfile",
  "knownHosts",
  "configFile",
  "connectTimeout",
  "proxyJump",
  "strictHostKeyChecking",
  "reuse",
  "controlPersist",
  "connectWindow",
  "options",
  "kex",
  "persist",
]);

/**
 * Checks connection parameters, with errors that say what was wrong.
 *
 * @param p The parameters.
 * @param where Where they came from, for messages.
 * @returns The same parameters.
 * @throws {TypeError} On unknown keys or wrong types.
 * @throws {RangeError} On out-of-range numbers.
 */
export function checkParams(
  p: ConnectionParams,
  where = "connection parameters",
): ConnectionParams {
  for (const k of Object.keys(p)) {
    if (!PARAM_KEYS.has(k)) {
      throw new TypeError(
        `Unknown key '${k}' in ${where}: use one of ${[...PARAM_KEYS].join(", ")}`,
      );
    }
  }
  if (p.port !== undefined && (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)) {
    throw new RangeError(
      `'port' must be an integer from 1 to 65535 in ${where}: received ${p.port}`,
    );
  }
  for (const k of ["connectTimeout", "controlPersist"] as const) {
    const v = p[k];
    if (v === undefined) continue;
    if (typeof v !== "number" && typeof v !== "string") {
      throw new TypeError(
        `'${k}' must be a Duration (text like "10s", or ms) in ${where}: received ${typeof v}`,
      );
    }
    const ms = toMillis(v, k);
    if (ms < 1000) {
      throw new RangeError(
        `'${k}' must be at least 1 s (ssh counts whole seconds) in ${where}: received ${
          JSON.stringify(v)
        }${typeof v === "number" ? ` (a number is ms: write "${v}s" for seconds)` : ""}`,
      );
    }
  }
  const w = p.connectWindow;
  if (w !== undefined && (!Number.isInteger(w) || w <= 0)) {
    throw new RangeError(`'connectWindow' must be a positive integer in ${where}: received ${w}`);
  }
  if (
    p.strictHostKeyChecking !== undefined &&
    !["yes", "accept-new", "no", "ask"].includes(p.strictHostKeyChecking)
  ) {
    throw new RangeError(
      `'strictHostKeyChecking' must be "yes", "accept-new", "no" or "ask" in ${where}: received "${p.strictHostKeyChecking}"`,
    );
  }
  checkProfile(p, where);
  return p;
}

/** dexp's defaults, as ssh_config keywords and values; what the user set wins over them. */
function defaultOptions(p: ConnectionParams, logLevel: string): [string, string][] {
  const out: [string, string][] = [["BatchMode", "yes"]];
  if (p.connectTimeout === undefined) {
    out.push(["ConnectTimeout", String(connectTimeoutSeconds(p))]);
  }
  if (p.strictHostKeyChecking === undefined) {
    out.push(["StrictHostKeyChecking", DEFAULT_PARAMS.strictHostKeyChecking]);
  }
  out.push(["LogLevel", logLevel], ["ServerAliveInterval", "15"], ["ServerAliveCountMax", "4"]);
  return out;
}

let configDir: string | undefined;
const configs = new Map<string, string>();

/**
 * A private ssh_config (0600 in a 0700 folder) that includes the user's file first and then
 * sets dexp's defaults: ssh keeps the first value it obtains for each keyword, so whatever the
 * user's file says wins, and the defaults only fill what it leaves unset.
 */
function layeredConfig(userFile: string, defaults: [string, string][]): string {
  const file = resolve(expandHome(userFile));
  // deno-lint-ignore no-control-regex
  if (/["\\*?\[\]\x00-\x1f]/.test(file)) {
    throw new TypeError(
      `'configFile' must not contain quotes, backslashes, wildcards or control characters: received "${userFile}"`,
    );
  }
  try {
    if (!Deno.statSync(file).isFile) throw new Error("not a file");
  } catch (e) {
    throw new TypeError(
      `'configFile' cannot be read: "${file}": ${
        (e as Error).message
      } (give the path of an ssh_config file)`,
    );
  }
  const text = [
    "# Generated by dexp: the user's file first (the first value obtained wins), then dexp's defaults",
    `Include "${file}"`,
    "Host *",
    ...defaults.map(([k, v]) => `  ${k} ${v}`),
    "",
  ].join("\n");
  const known = configs.get(text);
  if (known) return known;
  if (!configDir) {
    // Private, in memory where possible, and removed by a later program if this one is killed.
    const made = makeControlDir();
    configDir = made;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(made, { recursive: true });
      } catch {
        // Nothing more can be done at exit.
      }
    });
  }
  const path = `${configDir}/${configs.size}.conf`;
  // Never half-written: a temporary file, then a rename.
  Deno.writeTextFileSync(`${path}.tmp`, text, { mode: 0o600 });
  Deno.renameSync(`${path}.tmp`, path);
  configs.set(text, path);
  return path;
}

/**
 * The `-o`/`-i`/`-F`/`-J` options shared by ssh, scp and rsync's ssh (not the port:
 * ssh takes `-p`, scp takes `-P`).
 *
 * What the user configured wins over dexp's defaults (BatchMode, ConnectTimeout,
 * StrictHostKeyChecking, LogLevel, ServerAlive*): ssh keeps the first value it obtains, so the
 * user's `options` come first, then the explicit parameters; with a `configFile`, the
 * defaults go into a generated ssh_config that includes the user's file before them, else
 * they follow as `-o`.
 *
 * @param p Effective parameters.
 * @param logLevel dexp's default LogLevel (`ERROR`: no notices among a command's stderr).
 * @returns The options.
 * @throws {TypeError} If `configFile` cannot be read.
 */
export function commonOptions(p: ConnectionParams, logLevel = "ERROR"): string[] {
  const args: string[] = [];
  const defaults = defaultOptions(p, logLevel);
  if (p.configFile) args.push("-F", layeredConfig(p.configFile, defaults));
  for (const [k, v] of Object.entries(p.options ?? {})) {
    args.push("-o", `${k}=${v === true ? "yes" : v === false ? "no" : v}`);
  }
  if (p.user) args.push("-o", `User=${p.user}`);
  if (p.knownHosts) args.push("-o", `UserKnownHostsFile=${expandHome(p.knownHosts)}`);
  if (p.keyfile) args.push("-i", expandHome(p.keyfile), "-o", "IdentitiesOnly=yes");
  if (p.proxyJump) args.push("-J", p.proxyJump);
  if (p.connectTimeout !== undefined) {
    args.push("-o", `ConnectTimeout=${connectTimeoutSeconds(p)}`);
  }
  if (p.strictHostKeyChecking !== undefined) {
    args.push("-o", `StrictHostKeyChecking=${p.strictHostKeyChecking}`);
  }
  args.push(...kexOptions(p));
  if (!p.configFile) { for (const [k, v] of defaults) args.push("-o", `${k}=${v}`); }
  return args;
}

/** Options of {@linkcode sshPrefix}. */
export interface SshPrefixOptions {
  /** Options after the port: a control socket (`-o ControlPath=...`), `-T`, ... */
  extra?: string[];
  /** dexp's default LogLevel (see {@linkcode commonOptions}). */
  logLevel?: string;
  /** The port flag: `-p` for ssh, `-P` for scp. */
  portFlag?: "-p" | "-P";
}

/**
 * The options every ssh, scp and rsync-over-ssh call of dexp starts with, built in this one
 * place: {@linkcode commonOptions}, the port, then `extra` (the control socket).
 *
 * @param p Effective parameters.
 * @param options What follows the common options.
 * @returns The options (no program name, no destination).
 * @throws {TypeError} If `configFile` cannot be read.
 */
export function sshPrefix(p: ConnectionParams, options: SshPrefixOptions = {}): string[] {
  const port = p.port ? [options.portFlag ?? "-p", String(p.port)] : [];
  return [...commonOptions(p, options.logLevel), ...port, ...(options.extra ?? [])];
}

/**
 * The ssh command line that rsync's `-e` option takes, quoted for rsync's own splitter.
 *
 * @param p Effective parameters.
 * @param extra Extra options (control socket).
 * @returns The `-e` value.
 */
export function rsyncShell(p: ConnectionParams, extra: string[]): string {
  return [p.ssh ?? DEFAULT_PARAMS.ssh, ...sshPrefix(p, { extra })].map(quote).join(" ");
}
