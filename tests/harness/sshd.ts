/**
 * A testbed of real `sshd` "hosts" on loopback, for integration tests. Nothing is mocked.
 *
 * Each test host has its own address in a random `127.R.S.0/24` block and the testbed's port
 * (random, the same for every host). Up to 16 hosts share one `sshd` process (sshd's limit of
 * listen sockets), so `hosts: 64` runs 4 daemons. One generated ed25519 host key serves every
 * daemon; a generated `known_hosts` lists every host, so `StrictHostKeyChecking yes` works; a
 * generated `ssh_config` names the hosts `h1` ... `hN`. Two users log in with the same key:
 * `dexp-dash` (login shell `/bin/sh`, which is dash on Debian) and `dexp-bash` (`/bin/bash`).
 *
 * Needs Linux, root, and `sshd`, `ssh`, `ssh-keygen`, `useradd`, `usermod`
 * (`apt-get install -y openssh-server openssh-client`). Use {@linkcode sshTest} to register
 * tests: they are skipped, loudly, when the testbed cannot run here, except under `CI=true`,
 * where they fail.
 *
 * Several test processes may each start a testbed at the same time (`deno test --parallel`):
 * they pick random address blocks and ports and retry when a bind fails. Disposing a testbed
 * kills its daemons and every session process attributable to them, then removes its
 * directory; a later testbed also cleans up after a test process that died without disposing.
 *
 * @example Usage
 * ```ts ignore
 * import { sshTest, startTestbed } from "./harness/sshd.ts";
 *
 * sshTest("echo on every host", async () => {
 *   await using tb = await startTestbed({ hosts: 4 });
 *   for (let i = 0; i < tb.hosts.length; i++) {
 *     const out = await new Deno.Command("ssh", { args: [...tb.sshArgs(i), "echo hi"] })
 *       .output();
 *     // out.code === 0, stdout "hi\n"
 *   }
 * });
 * ```
 *
 * @module
 */

import { isGone, killAttributed, readCmdline, readEnvVar, readStat } from "./_proc.ts";
import { inCI, serviceTest } from "./_register.ts";

/** The two test users and their login shells. */
export const USERS = { dash: "dexp-dash", bash: "dexp-bash" } as const;

/** Most addresses one sshd listens on: sshd's `MAX_LISTEN_SOCKS` is 16. */
export const MAX_HOSTS_PER_DAEMON = 16;

/** Most hosts one testbed may have. */
export const MAX_HOSTS = 1024;

/** One test host: an address and port served by one of the testbed's daemons. */
export interface TestHost {
  /** Its alias in {@linkcode Testbed.sshConfig}: `h1` for the first host. */
  name: string;
  /** Its own loopback address, `127.R.S.k`. */
  address: string;
  /** The port its daemon listens on (the same for every host of a testbed). */
  port: number;
  /** Index in {@linkcode Testbed.daemons} of the sshd that serves it. */
  daemon: number;
}

/** One sshd process of a testbed, serving one or more hosts. */
export interface TestDaemon {
  /** Its index in {@linkcode Testbed.daemons}. */
  index: number;
  /** Indexes in {@linkcode Testbed.hosts} of the hosts it serves. */
  hosts: number[];
  /** Path of its generated `sshd_config`. */
  configFile: string;
  /** Path of its log (`sshd -E`), appended to across restarts. */
  logFile: string;
  /** Path of its pid file. */
  pidFile: string;
}

/** Options of {@linkcode startTestbed}. */
export interface TestbedOptions {
  /** Number of hosts, 1 to {@linkcode MAX_HOSTS}. Default 4. */
  hosts?: number;
  /**
   * Number of sshd processes. Default: one per host up to 4 hosts (so stopping a daemon
   * takes down exactly one host), else 4, or more when needed to keep at most
   * {@linkcode MAX_HOSTS_PER_DAEMON} hosts per daemon.
   */
  daemons?: number;
  /** sshd `LogLevel`. Default `VERBOSE`: logs every connection and authentication. */
  logLevel?: "INFO" | "VERBOSE" | "DEBUG1" | "DEBUG2" | "DEBUG3";
  /**
   * The daemons' `KexAlgorithms`, which every client then has to use. Default
   * `curve25519-sha256,curve25519-sha256@libssh.org`: a cold login costs about a third of the
   * CPU of OpenSSH 9.2's default (sntrup761x25519), which keeps fan-out tests fast. `null`
   * keeps sshd's default, for benchmarks that should see what real hosts cost.
   */
  kexAlgorithms?: string | null;
  /**
   * The daemons' `MaxStartups` (unauthenticated logins at once before sshd drops new ones).
   * Default `1024:30:2048`. A low value (`"2:100:2"`) makes a host that drops logins under a
   * burst. (A `MaxStartups` line in `extraSshdConfig` would be ignored: sshd keeps the first.)
   */
  maxStartups?: string;
  /** Extra lines appended to every generated `sshd_config` (e.g. `"AcceptEnv FOO"`). */
  extraSshdConfig?: string[];
  /**
   * Give every host a home of its own, as real hosts have: sshd sets `HOME` to
   * `DIR/homes/HOST` (a sticky, world-writable folder) for every session on that host's
   * address. The login shell still starts in the user's real home. Default false.
   */
  homePerHost?: boolean;
  /**
   * Directory that holds the testbeds' directories. Default `$DEXP_TESTBED_BASE`, else
   * `/tmp/dexp-testbed`. The test users must be able to traverse it.
   */
  baseDir?: string;
}

const DEFAULT_KEX = "curve25519-sha256,curve25519-sha256@libssh.org";

const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"];
const TOOLS = ["sshd", "ssh", "ssh-keygen", "useradd", "usermod"] as const;

function findTool(name: string): string | null {
  let dirs = SBIN_DIRS;
  try {
    dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""), ...SBIN_DIRS];
  } catch {
    // No env permission: the standard directories only.
  }
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const st = Deno.statSync(path);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // Not there.
    }
  }
  return null;
}

function checkAvailable(): string | null {
  if (Deno.build.os !== "linux") {
    return `the sshd testbed needs Linux: running on '${Deno.build.os}'`;
  }
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch (e) {
    return `cannot read the user id, run with --allow-sys: ${(e as Error).message}`;
  }
  if (uid !== 0) {
    return `the sshd testbed needs root (it creates users and runs sshd): uid is ${uid}`;
  }
  for (const tool of TOOLS) {
    if (findTool(tool) === null) {
      return `'${tool}' not found: apt-get install -y openssh-server openssh-client passwd`;
    }
  }
  return null;
}

/**
 * Why the sshd testbed cannot run here (not root, sshd missing ...), or `null` when it can.
 * Computed once, when this module is loaded.
 */
export const testbedUnavailable: string | null = checkAvailable();

const register = serviceTest("sshd", testbedUnavailable);

/**
 * Registers a test that needs the sshd testbed, with the op and resource sanitizers on.
 *
 * When {@linkcode testbedUnavailable} is set, the test is ignored and the reason is printed
 * once to stderr; under `CI=true` it is never ignored, so it fails in
 * {@linkcode startTestbed} instead of passing silently.
 *
 * @param name The test's name.
 * @param fn The test.
 */
export function sshTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void;
/**
 * Registers a test that needs the sshd testbed, from a full test definition.
 *
 * @param def The test definition; `ignore` is combined with the testbed's availability.
 */
export function sshTest(def: Deno.TestDefinition): void;
export function sshTest(
  nameOrDef: string | Deno.TestDefinition,
  fn?: (t: Deno.TestContext) => void | Promise<void>,
): void {
  register(nameOrDef, fn);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function randomInt(n: number): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] % n;
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
}

async function runOk(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) {
    throw new Error(
      `Command failed with exit code ${r.code}: ${[cmd, ...args].join(" ")}: ${r.out}`,
    );
  }
  return r.out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function removeQuietly(path: string, recursive = false): Promise<void> {
  try {
    await Deno.remove(path, { recursive });
  } catch {
    // Already gone.
  }
}

async function mkdir0755(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await Deno.chmod(path, 0o755);
}

// ---------------------------------------------------------------------------------------------
// Users

async function ensureUser(name: string, shell: string): Promise<void> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  let entry = passwd.split("\n").find((l) => l.startsWith(name + ":"))?.split(":");
  if (entry === undefined) {
    const r = await run(findTool("useradd")!, ["-m", "-s", shell, name]);
    // 9: the user exists (created by another process meanwhile).
    if (r.code !== 0 && r.code !== 9) throw new Error(`Cannot create user '${name}': ${r.out}`);
    entry = (await Deno.readTextFile("/etc/passwd")).split("\n")
      .find((l) => l.startsWith(name + ":"))?.split(":");
    if (entry === undefined) throw new Error(`User '${name}' missing after useradd`);
  } else if (entry[6] !== shell) {
    await runOk(findTool("usermod")!, ["-s", shell, name]);
  }
  const home = entry[5];
  if (!(await exists(home))) {
    await Deno.mkdir(home, { recursive: true, mode: 0o755 });
    await Deno.chown(home, Number(entry[2]), Number(entry[3]));
  }
  const shadow = await Deno.readTextFile("/etc/shadow");
  const pw = shadow.split("\n").find((l) => l.startsWith(name + ":"))?.split(":")[1];
  // useradd leaves the account locked ("!"); with UsePAM no, sshd then refuses even keys.
  if (pw === undefined || pw.startsWith("!")) {
    await runOk(findTool("usermod")!, ["-p", "*", name]);
  }
}

async function ensureUsers(baseDir: string): Promise<void> {
  // Serialise with other test processes: useradd fails when /etc/passwd is locked.
  const lock = await Deno.open(`${baseDir}/.users.lock`, { create: true, write: true });
  try {
    await lock.lock(true);
    await ensureUser(USERS.dash, "/bin/sh");
    await ensureUser(USERS.bash, "/bin/bash");
  } finally {
    lock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Generated files

interface Layout {
  port: number;
  addresses: string[];
}

function pickLayout(hosts: number): Layout {
  // 250 hosts per /24: 127.R.S.1 ... 127.R.S.250, then 127.R.(S+1).1 ...
  const blocks = Math.ceil(hosts / 250);
  const r = 2 + randomInt(253); // 127.0.x.x and 127.1.x.x are left to the system.
  const s = randomInt(256 - blocks + 1);
  const addresses = Array.from(
    { length: hosts },
    (_, i) => `127.${r}.${s + Math.floor(i / 250)}.${1 + (i % 250)}`,
  );
  // Below the ephemeral range (32768+), above most well-known services.
  return { port: 20000 + randomInt(12000), addresses };
}

function sshdConfig(
  dir: string,
  d: TestDaemon,
  layout: Layout,
  options: TestbedOptions,
  penalties: boolean,
): string {
  const kex = options.kexAlgorithms === undefined ? DEFAULT_KEX : options.kexAlgorithms;
  return [
    `# Generated by tests/harness/sshd.ts: daemon ${d.index} of testbed ${dir}`,
    ...d.hosts.map((h) => `ListenAddress ${layout.addresses[h]}:${layout.port}`),
    "AddressFamily inet",
    `HostKey ${dir}/host_ed25519`,
    `PidFile ${d.pidFile}`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    `AllowUsers ${USERS.dash} ${USERS.bash}`,
    "UsePAM no",
    "StrictModes no",
    "PermitRootLogin no",
    "AuthenticationMethods publickey",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "HostbasedAuthentication no",
    "PermitUserEnvironment no",
    // Fan-out tests: the stock 10:30:100 drops concurrent logins, 10 sessions per connection
    // is too few for one ControlMaster.
    `MaxStartups ${options.maxStartups ?? "1024:30:2048"}`,
    "PerSourceMaxStartups none",
    "MaxSessions 256",
    ...(penalties ? ["PerSourcePenalties no"] : []),
    "LoginGraceTime 30",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "ClientAliveInterval 0",
    // scp uses the sftp protocol since OpenSSH 9.0.
    "Subsystem sftp internal-sftp",
    ...(kex === null ? [] : [`KexAlgorithms ${kex}`]),
    `LogLevel ${options.logLevel ?? "VERBOSE"}`,
    ...(options.extraSshdConfig ?? []),
    // Match blocks last: everything after a Match line belongs to it.
    ...(options.homePerHost
      ? d.hosts.flatMap((h) => [
        `Match LocalAddress ${layout.addresses[h]}`,
        `  SetEnv HOME=${dir}/homes/h${h + 1}`,
      ])
      : []),
    "",
  ].join("\n");
}

function sshConfig(dir: string, hosts: TestHost[]): string {
  return [
    "# Generated by tests/harness/sshd.ts: use with ssh -F",
    ...hosts.flatMap((h) => [
      `Host ${h.name}`,
      `  HostName ${h.address}`,
      `  Port ${h.port}`,
      `  User ${USERS.dash}`,
    ]),
    "Host *",
    `  IdentityFile ${dir}/user_ed25519`,
    "  IdentitiesOnly yes",
    "  IdentityAgent none",
    `  UserKnownHostsFile ${dir}/known_hosts`,
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "  CheckHostIP no",
    "  BatchMode yes",
    "  PasswordAuthentication no",
    "  KbdInteractiveAuthentication no",
    "  ConnectTimeout 10",
    "  AddressFamily inet",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Daemons

class BindConflict extends Error {
  override name = "BindConflict";
}

async function readPid(pidFile: string): Promise<number | null> {
  try {
    const m = /^(\d+)\n/.exec(await Deno.readTextFile(pidFile));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  try {
    const bytes = await Deno.readFile(path);
    return new TextDecoder().decode(bytes.subarray(offset));
  } catch {
    return "";
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** Matches processes started by sessions of the given addresses and port. */
function sessionMatcher(addresses: Set<string>, port: number): (pid: number) => Promise<boolean> {
  return async (pid) => {
    const conn = await readEnvVar(pid, "SSH_CONNECTION");
    if (conn === null) return false;
    const f = conn.split(" "); // client-ip client-port server-ip server-port
    return f.length === 4 && addresses.has(f[2]) && f[3] === String(port);
  };
}

interface Running {
  pid: number;
  starttime: number;
}

/** Starts one sshd; resolves once it listens on all its addresses. */
async function launch(sshd: string, d: TestDaemon, addresses: string[]): Promise<Running> {
  await removeQuietly(d.pidFile);
  const offset = await fileSize(d.logFile);
  // sshd forks (daemon(3)) before it binds; the parent exits at once.
  const r = await run(sshd, ["-f", d.configFile, "-E", d.logFile]);
  if (r.code !== 0) throw new Error(`sshd ${d.configFile} exited with code ${r.code}: ${r.out}`);
  const deadline = Date.now() + 15_000;
  for (;;) {
    // The pid file is written after every bind was tried.
    const pid = await readPid(d.pidFile);
    const log = await readFrom(d.logFile, offset);
    if (pid !== null) {
      const failed = log.split("\n").filter((l) => /^Bind to port \d+ on .* failed/.test(l));
      const listening = log.split("\n").filter((l) => l.startsWith("Server listening on "));
      const stat = await readStat(pid);
      if (failed.length > 0 || listening.length !== addresses.length || stat === null) {
        await killAttributed({ roots: [pid] });
        throw new BindConflict(`sshd ${d.configFile} could not bind every address: ${log.trim()}`);
      }
      return { pid, starttime: stat.starttime };
    }
    if (log.includes("Cannot bind any address")) {
      throw new BindConflict(`sshd ${d.configFile} could not bind: ${log.trim()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`sshd ${d.configFile} wrote no pid file within 15 s; its log: ${log.trim()}`);
    }
    await sleep(5);
  }
}

let penaltiesSupported: boolean | undefined;

async function supportsPenalties(sshd: string, dir: string): Promise<boolean> {
  if (penaltiesSupported === undefined) {
    // PerSourcePenalties (OpenSSH 9.8+) would slow down clients that fail on purpose.
    const probe = `${dir}/probe_config`;
    await Deno.writeTextFile(
      probe,
      `HostKey ${dir}/host_ed25519\nUsePAM no\nPerSourcePenalties no\n`,
    );
    penaltiesSupported = (await run(sshd, ["-t", "-f", probe])).code === 0;
    await removeQuietly(probe);
  }
  return penaltiesSupported;
}

// ---------------------------------------------------------------------------------------------
// Owner records and clean-up of testbeds whose process died

interface OwnerRecord {
  pid: number;
  starttime: number;
  port: number;
  addresses: string[];
}

async function reapStale(baseDir: string): Promise<void> {
  const entries: string[] = [];
  for await (const e of Deno.readDir(baseDir)) {
    if (e.isDirectory && e.name.startsWith("tb-")) entries.push(`${baseDir}/${e.name}`);
  }
  await Promise.all(entries.map(async (dir) => {
    try {
      let owner: OwnerRecord;
      try {
        owner = JSON.parse(await Deno.readTextFile(`${dir}/owner.json`));
      } catch {
        // Ownerless: being created right now, or a crash right after mkdir.
        const age = Date.now() - ((await Deno.stat(dir)).mtime?.getTime() ?? Date.now());
        if (age > 10 * 60_000) await removeQuietly(dir, true);
        return;
      }
      if (!(await isGone(owner.pid, owner.starttime))) return;
      const roots: number[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (!e.name.endsWith(".pid")) continue;
        const pid = await readPid(`${dir}/${e.name}`);
        // Only an sshd started with a config from this very directory.
        if (pid !== null && (await readCmdline(pid))?.includes(`${dir}/`)) roots.push(pid);
      }
      await killAttributed({
        roots,
        match: sessionMatcher(new Set(owner.addresses), owner.port),
      });
      await removeQuietly(dir, true);
    } catch {
      // Best effort: another process may be reaping the same directory.
    }
  }));
}

async function procStart(pid: number): Promise<number> {
  return (await readStat(pid))?.starttime ?? 0;
}

// ---------------------------------------------------------------------------------------------
// The testbed

/**
 * A running set of sshd test hosts. Create it with {@linkcode startTestbed}, end it with
 * `await using` (or {@linkcode Testbed.close}).
 */
export class Testbed implements AsyncDisposable {
  /** The testbed's private directory (keys, configs, logs); removed on close. */
  readonly dir: string;
  /** The test hosts, in order: `hosts[0]` is `h1`. */
  readonly hosts: readonly TestHost[];
  /** The sshd processes; `hosts[i].daemon` indexes this array. */
  readonly daemons: readonly TestDaemon[];
  /** The test users: `dash` has login shell `/bin/sh` (dash), `bash` has `/bin/bash`. */
  readonly users: typeof USERS = USERS;
  /** Path of the user private key (ed25519, no passphrase) accepted for both users. */
  readonly keyfile: string;
  /** Path of a known_hosts file with one line per host (`[address]:port`). */
  readonly knownHosts: string;
  /**
   * Path of an ssh_config for `ssh -F`: hosts `h1` ... `hN` (HostName, Port, User
   * `dexp-dash`), and for every host IdentityFile, IdentitiesOnly, UserKnownHostsFile,
   * StrictHostKeyChecking yes, BatchMode yes.
   */
  readonly sshConfig: string;

  #sshd: string;
  #addresses: string[];
  #port: number;
  #running: (Running | null)[];
  #closed = false;
  #onUnload = () => this.#killSync();

  /** Internal: use {@linkcode startTestbed}. */
  constructor(init: {
    dir: string;
    sshd: string;
    layout: Layout;
    daemons: TestDaemon[];
    running: Running[];
  }) {
    this.dir = init.dir;
    this.#sshd = init.sshd;
    this.#addresses = init.layout.addresses;
    this.#port = init.layout.port;
    this.daemons = init.daemons;
    this.#running = [...init.running];
    const daemonOf = new Map(init.daemons.flatMap((d) => d.hosts.map((h) => [h, d.index])));
    this.hosts = init.layout.addresses.map((address, i) => ({
      name: `h${i + 1}`,
      address,
      port: init.layout.port,
      daemon: daemonOf.get(i)!,
    }));
    this.keyfile = `${init.dir}/user_ed25519`;
    this.knownHosts = `${init.dir}/known_hosts`;
    this.sshConfig = `${init.dir}/ssh_config`;
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /**
   * The argv for `ssh` up to the remote command: `["-F", sshConfig, "user@hN"]`.
   *
   * @param host Index in {@linkcode Testbed.hosts} (0 for `h1`).
   * @param user The remote user; default `dexp-dash`.
   * @returns Arguments to put before the remote command (and after any extra `-o` options,
   *   which may also come first).
   */
  sshArgs(host: number, user: string = USERS.dash): string[] {
    const h = this.#host(host);
    return ["-F", this.sshConfig, `${user}@${h.name}`];
  }

  /**
   * Path of a daemon's log (`LogLevel VERBOSE` unless chosen otherwise): one
   * `Connection from ...` line per TCP connection, one `Accepted publickey for ...` per login.
   *
   * @param daemon Index in {@linkcode Testbed.daemons}.
   * @returns The log's path.
   */
  daemonLog(daemon: number): string {
    return this.#daemon(daemon).logFile;
  }

  /**
   * The pid of a daemon's listening sshd.
   *
   * @param daemon Index in {@linkcode Testbed.daemons}.
   * @returns The pid, or `null` while the daemon is stopped.
   */
  daemonPid(daemon: number): number | null {
    return this.#running[this.#daemon(daemon).index]?.pid ?? null;
  }

  /**
   * Stops one daemon, as if its hosts went down: kills its listener, its session processes
   * and every process started by its sessions. Its hosts then refuse connections. Does
   * nothing for a daemon already stopped (but still kills what its sessions left).
   *
   * @param daemon Index in {@linkcode Testbed.daemons}.
   */
  async stopDaemon(daemon: number): Promise<void> {
    const d = this.#daemon(daemon);
    const run = this.#running[d.index];
    this.#running[d.index] = null;
    await killAttributed({
      roots: run && !(await isGone(run.pid, run.starttime)) ? [run.pid] : [],
      match: sessionMatcher(new Set(d.hosts.map((h) => this.#addresses[h])), this.#port),
    });
    await removeQuietly(d.pidFile);
  }

  /**
   * Starts a stopped daemon again on the same addresses and port. Does nothing if it runs.
   *
   * @param daemon Index in {@linkcode Testbed.daemons}.
   * @throws {Error} When sshd cannot bind its addresses again.
   */
  async startDaemon(daemon: number): Promise<void> {
    const d = this.#daemon(daemon);
    this.#checkOpen();
    const run = this.#running[d.index];
    if (run && !(await isGone(run.pid, run.starttime))) return;
    this.#running[d.index] = await launch(this.#sshd, d, d.hosts.map((h) => this.#addresses[h]));
  }

  /**
   * Stops every daemon and everything its sessions started, then removes {@linkcode dir}.
   * Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    globalThis.removeEventListener("unload", this.#onUnload);
    const roots: number[] = [];
    for (const r of this.#running) {
      if (r && !(await isGone(r.pid, r.starttime))) roots.push(r.pid);
    }
    this.#running.fill(null);
    await killAttributed({ roots, match: sessionMatcher(new Set(this.#addresses), this.#port) });
    await removeQuietly(this.dir, true);
  }

  /** Same as {@linkcode Testbed.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #killSync(): void {
    // The process exits without close(): kill the listeners at least; the next testbed reaps
    // whatever is left (its owner record names this process, which is then gone).
    for (const r of this.#running) {
      try {
        if (r) Deno.kill(r.pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
  }

  #host(i: number): TestHost {
    const h = this.hosts[i];
    if (h === undefined) {
      throw new RangeError(`Host index must be 0 to ${this.hosts.length - 1}: received ${i}`);
    }
    return h;
  }

  #daemon(i: number): TestDaemon {
    const d = this.daemons[i];
    if (d === undefined) {
      throw new RangeError(`Daemon index must be 0 to ${this.daemons.length - 1}: received ${i}`);
    }
    return d;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("The testbed is closed");
  }
}

function defaultDaemons(hosts: number): number {
  return Math.max(Math.ceil(hosts / MAX_HOSTS_PER_DAEMON), Math.min(hosts, 4));
}

/**
 * Starts a testbed of sshd hosts on loopback.
 *
 * @param options Number of hosts and daemons, log level, extra sshd configuration.
 * @returns The running testbed; dispose it (`await using`) to stop everything.
 * @throws {Error} When the testbed cannot run here ({@linkcode testbedUnavailable}), or sshd
 *   fails to start.
 * @throws {RangeError} When `hosts` or `daemons` is out of range.
 */
export async function startTestbed(options: TestbedOptions = {}): Promise<Testbed> {
  if (testbedUnavailable !== null) {
    const ci = inCI() ? " (CI=true: sshd tests must not be skipped)" : "";
    throw new Error(`Cannot start the sshd testbed${ci}: ${testbedUnavailable}`);
  }
  const nHosts = options.hosts ?? 4;
  if (!Number.isInteger(nHosts) || nHosts < 1 || nHosts > MAX_HOSTS) {
    throw new RangeError(`'hosts' must be an integer from 1 to ${MAX_HOSTS}: received ${nHosts}`);
  }
  const nDaemons = options.daemons ?? defaultDaemons(nHosts);
  const minDaemons = Math.ceil(nHosts / MAX_HOSTS_PER_DAEMON);
  if (!Number.isInteger(nDaemons) || nDaemons < minDaemons || nDaemons > nHosts) {
    throw new RangeError(
      `'daemons' must be an integer from ${minDaemons} to ${nHosts}: received ${nDaemons}`,
    );
  }
  let baseDir = options.baseDir;
  if (baseDir === undefined) baseDir = Deno.env.get("DEXP_TESTBED_BASE") ?? "/tmp/dexp-testbed";
  const sshd = findTool("sshd")!;
  const keygen = findTool("ssh-keygen")!;

  // sshd refuses to start without its privilege separation directory.
  await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await mkdir0755(baseDir);
  await reapStale(baseDir);
  await ensureUsers(baseDir);

  const dir = `${baseDir}/tb-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(dir);
  // The test users read authorized_keys through this directory.
  await Deno.chmod(dir, 0o755);
  if (options.homePerHost) {
    for (let h = 1; h <= nHosts; h++) {
      await Deno.mkdir(`${dir}/homes/h${h}`, { recursive: true });
      await Deno.chmod(`${dir}/homes/h${h}`, 0o1777);
    }
    await Deno.chmod(`${dir}/homes`, 0o755);
  }
  const running: Running[] = [];
  try {
    // One ed25519 key for every daemon, one for both users; no passphrase.
    const makeKey = (name: string) =>
      runOk(keygen, [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `dexp-testbed-${name}`,
        "-f",
        `${dir}/${name}_ed25519`,
      ]);
    await Promise.all([makeKey("host"), makeKey("user")]);
    await Deno.copyFile(`${dir}/user_ed25519.pub`, `${dir}/authorized_keys`);
    await Deno.chmod(`${dir}/authorized_keys`, 0o644);
    const penalties = await supportsPenalties(sshd, dir);
    const hostKey = (await Deno.readTextFile(`${dir}/host_ed25519.pub`)).split(" ").slice(0, 2)
      .join(" ");

    const daemons: TestDaemon[] = [];
    for (let k = 0, first = 0; k < nDaemons; k++) {
      // Spread evenly: the first (nHosts % nDaemons) daemons get one host more.
      const count = Math.floor(nHosts / nDaemons) + (k < nHosts % nDaemons ? 1 : 0);
      daemons.push({
        index: k,
        hosts: Array.from({ length: count }, (_, j) => first + j),
        configFile: `${dir}/sshd-${k}.conf`,
        logFile: `${dir}/sshd-${k}.log`,
        pidFile: `${dir}/sshd-${k}.pid`,
      });
      first += count;
    }

    let layout: Layout | null = null;
    const errors: string[] = [];
    for (let attempt = 0; attempt < 8 && layout === null; attempt++) {
      const candidate = pickLayout(nHosts);
      const owner: OwnerRecord = {
        pid: Deno.pid,
        starttime: await procStart(Deno.pid),
        ...candidate,
      };
      await Deno.writeTextFile(`${dir}/owner.json`, JSON.stringify(owner) + "\n");
      await Promise.all(daemons.map(async (d) => {
        await Deno.writeTextFile(
          d.configFile,
          sshdConfig(dir, d, candidate, options, penalties),
        );
      }));
      // Every config has the same shape: checking the first one is enough.
      await runOk(sshd, ["-t", "-f", daemons[0].configFile]);
      const results = await Promise.allSettled(
        daemons.map((d) => launch(sshd, d, d.hosts.map((h) => candidate.addresses[h]))),
      );
      for (const r of results) if (r.status === "fulfilled") running.push(r.value);
      const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
      if (failures.length === 0) {
        layout = candidate;
        break;
      }
      await killAttributed({
        roots: running.splice(0).map((r) => r.pid),
        match: sessionMatcher(new Set(candidate.addresses), candidate.port),
      });
      const other = failures.find((e) => !(e instanceof BindConflict));
      if (other !== undefined) throw other;
      errors.push(String(failures[0]));
    }
    if (layout === null) {
      throw new Error(`Cannot bind the sshd testbed after 8 tries: ${errors.join("; ")}`);
    }

    const tb = new Testbed({ dir, sshd, layout, daemons, running });
    try {
      await Deno.writeTextFile(
        tb.knownHosts,
        tb.hosts.map((h) => `[${h.address}]:${h.port} ${hostKey}`).join("\n") + "\n",
      );
      await Deno.writeTextFile(tb.sshConfig, sshConfig(dir, [...tb.hosts]));
    } catch (e) {
      await tb.close();
      throw e;
    }
    return tb;
  } catch (e) {
    await killAttributed({ roots: running.map((r) => r.pid) }).catch(() => {});
    await removeQuietly(dir, true);
    throw e;
  }
}

/**
 * The home folder of a local user (from `/etc/passwd`): where a test user's `~/...` jobs root
 * is on this machine.
 *
 * @param user The user name.
 * @returns The home folder.
 */
export async function homeOf(user: string): Promise<string> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((l) => l.startsWith(user + ":"));
  if (!line) throw new Error(`No user ${user} in /etc/passwd`);
  return line.split(":")[5];
}

/**
 * A testbed host as a dexp host spec: its alias, address and port, a test user, the testbed's
 * key and known hosts, host key checking on.
 *
 * @param tb The testbed.
 * @param i The host's index.
 * @param user The login (default the dash user).
 * @returns The spec, for `hosts()` or `new Host()`.
 */
export function hostSpec(tb: Testbed, i: number, user: string = USERS.dash): {
  name: string;
  address: string;
  port: number;
  user: string;
  keyfile: string;
  knownHosts: string;
  strictHostKeyChecking: "yes";
} {
  const h = tb.hosts[i];
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
}
