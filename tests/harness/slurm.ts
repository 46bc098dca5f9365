/**
 * A real Slurm cluster on this machine, for integration tests. Nothing is mocked.
 *
 * One `munged` with a private key and socket, one `slurmctld` and one `slurmd` per fake node
 * (Slurm's multiple-slurmd mode: `NodeName=n[1-N] NodeHostname=localhost Port=[...]`), all
 * with a generated `slurm.conf` whose state, spool, log and pid paths are in the cluster's
 * private directory. The controller and node ports are random high ports; when a daemon
 * cannot bind, every daemon is stopped and the cluster starts again on other ports. Every
 * address is loopback (`CommunicationParameters=NoCtldInAddrAny,NoInAddrAny`, and the
 * machine's name resolves to 127.0.0.1 here).
 *
 * Clients find the cluster through `SLURM_CONF`: pass {@linkcode SlurmCluster.env} to every
 * Slurm command (and to dexp's `slurmAllocate({ env })`).
 *
 * Needs Linux, root, and `apt-get install -y slurmctld slurmd slurm-client munge`. Use
 * {@linkcode slurmTest} to register tests: they are skipped, loudly, when the cluster cannot
 * run here, except under `CI=true`, where they fail.
 *
 * Disposing a cluster kills its daemons, every `slurmstepd` and task that belongs to it (found
 * by `SLURM_CONF` in their environment) and removes its directory; a later cluster also cleans
 * up after a test process that died without disposing.
 *
 * @example Usage
 * ```ts ignore
 * import { slurmTest, startSlurmCluster } from "./harness/slurm.ts";
 *
 * slurmTest("sinfo lists the nodes", async () => {
 *   await using sc = await startSlurmCluster({ nodes: 2 });
 *   const out = await new Deno.Command("sinfo", { args: ["-h", "-N", "-o", "%N"], env: sc.env })
 *     .output();
 *   // stdout "n1\nn2\n"
 * });
 * ```
 *
 * @module
 */

import { isGone, killAttributed, readCmdline, readEnvVar, readStat } from "./_proc.ts";
import { inCI, serviceTest } from "./_register.ts";

const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"];
const TOOLS = [
  "munged",
  "slurmctld",
  "slurmd",
  "sbatch",
  "srun",
  "squeue",
  "scancel",
  "scontrol",
  "sinfo",
] as const;
const INSTALL = "apt-get install -y slurmctld slurmd slurm-client munge";

/** Most fake nodes of one cluster. */
export const MAX_NODES = 16;

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
    return `the Slurm cluster needs Linux: running on '${Deno.build.os}'`;
  }
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch (e) {
    return `cannot read the user id, run with --allow-sys: ${(e as Error).message}`;
  }
  if (uid !== 0) {
    return `the Slurm cluster needs root (slurmd runs jobs as their users): uid is ${uid}`;
  }
  for (const tool of TOOLS) {
    if (findTool(tool) === null) return `'${tool}' not found: ${INSTALL}`;
  }
  return null;
}

/**
 * Why the Slurm cluster cannot run here (not root, Slurm missing ...), or `null` when it can.
 * Computed once, when this module is loaded.
 */
export const slurmUnavailable: string | null = checkAvailable();

const register = serviceTest("Slurm", slurmUnavailable);

/**
 * Registers a test that needs the Slurm cluster, with the op and resource sanitizers on.
 *
 * When {@linkcode slurmUnavailable} is set, the test is ignored and the reason is printed once
 * to stderr; under `CI=true` it is never ignored, so it fails in
 * {@linkcode startSlurmCluster} instead of passing silently.
 *
 * @param name The test's name.
 * @param fn The test.
 */
export function slurmTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void;
/**
 * Registers a test that needs the Slurm cluster, from a full test definition.
 *
 * @param def The test definition; `ignore` is combined with the cluster's availability.
 */
export function slurmTest(def: Deno.TestDefinition): void;
export function slurmTest(
  nameOrDef: string | Deno.TestDefinition,
  fn?: (t: Deno.TestContext) => void | Promise<void>,
): void {
  register(nameOrDef, fn);
}

/** Options of {@linkcode startSlurmCluster}. */
export interface SlurmClusterOptions {
  /** Number of fake nodes `n1` ... `nN`, 1 to {@linkcode MAX_NODES}. Default 4. */
  nodes?: number;
  /** CPUs each node declares (more than the machine has is fine). Default 4. */
  cpus?: number;
  /** Extra lines appended to the generated `slurm.conf`. */
  extraConfig?: string[];
  /** Directory that holds the clusters' directories. Default `/tmp/dexp-slurm`. */
  baseDir?: string;
  /**
   * Controller ports to try first, one per attempt (the nodes take the ports after it);
   * random ports follow. For the harness's own test of its retry on a port in use.
   */
  tryPorts?: number[];
  /** `MinJobAge`: seconds a finished job stays known to the controller. Default 300. */
  minJobAge?: number;
  /**
   * Each node's host name as Slurm records it (`NodeHostname`, what `scontrol show node`
   * reports), e.g. the loopback addresses of an sshd testbed's hosts. Default `localhost`.
   * (Every slurmd still listens on 127.0.0.1: with `NoInAddrAny` it binds to the address of
   * this machine's name, whatever `NodeAddr` says.)
   */
  nodeHostnames?: string[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function randomInt(n: number): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] % n;
}

async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; out: string; stdout: string }> {
  const o = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(o.stdout);
  return { code: o.code, out: (stdout + dec.decode(o.stderr)).trim(), stdout };
}

async function removeQuietly(path: string, recursive = false): Promise<void> {
  try {
    await Deno.remove(path, { recursive });
  } catch {
    // Already gone.
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

async function readPid(pidFile: string): Promise<number | null> {
  const m = /^(\d+)\s/.exec(await readText(pidFile));
  return m ? Number(m[1]) : null;
}

interface OwnerRecord {
  pid: number;
  starttime: number;
  conf: string;
}

/** Matches the processes of a cluster: its daemons, steps and tasks carry its `SLURM_CONF`. */
function clusterMatcher(conf: string, dir: string): (pid: number) => Promise<boolean> {
  return async (pid) =>
    (await readEnvVar(pid, "SLURM_CONF")) === conf ||
    (await readEnvVar(pid, "DEXP_SLURM_TESTBED")) === dir;
}

async function pidsIn(dir: string): Promise<number[]> {
  const roots: number[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else if (e.name.endsWith(".pid")) {
        const pid = await readPid(`${d}/${e.name}`);
        if (pid !== null && (await readCmdline(pid))?.includes(dir)) roots.push(pid);
      }
    }
  };
  try {
    await walk(dir);
  } catch {
    // Being removed.
  }
  return roots;
}

async function reapStale(baseDir: string): Promise<void> {
  const dirs: string[] = [];
  for await (const e of Deno.readDir(baseDir)) {
    if (e.isDirectory && e.name.startsWith("sc-")) dirs.push(`${baseDir}/${e.name}`);
  }
  await Promise.all(dirs.map(async (dir) => {
    try {
      let owner: OwnerRecord;
      try {
        owner = JSON.parse(await Deno.readTextFile(`${dir}/owner.json`));
      } catch {
        const age = Date.now() - ((await Deno.stat(dir)).mtime?.getTime() ?? Date.now());
        if (age > 10 * 60_000) await removeQuietly(dir, true);
        return;
      }
      if (!(await isGone(owner.pid, owner.starttime))) return;
      await killAttributed({ roots: await pidsIn(dir), match: clusterMatcher(owner.conf, dir) });
      await removeQuietly(dir, true);
    } catch {
      // Best effort: another process may be reaping it.
    }
  }));
}

interface Layout {
  ctldPort: number;
  nodePorts: number[];
}

function pickLayout(nodes: number, first?: number): Layout {
  // Below the ephemeral range (32768+), which srun's own listening sockets use.
  const base = first ?? 20000 + randomInt(12000 - nodes - 1);
  return {
    ctldPort: base,
    nodePorts: Array.from({ length: nodes }, (_, i) => base + 1 + i),
  };
}

function slurmConf(
  dir: string,
  name: string,
  layout: Layout,
  nodes: number,
  cpus: number,
  minJobAge: number,
  extra: string[],
  addrs: readonly string[] = [],
): string {
  const last = layout.nodePorts.length - 1;
  const ports = nodes === 1
    ? String(layout.nodePorts[0])
    : `${layout.nodePorts[0]}-${layout.nodePorts[last]}`;
  return [
    `# Generated by tests/harness/slurm.ts for the cluster in ${dir}`,
    `ClusterName=${name}`,
    "SlurmctldHost=localhost",
    `SlurmctldPort=${layout.ctldPort}`,
    "SlurmUser=root",
    "SlurmdUser=root",
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${dir}/munge/munge.socket`,
    "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_CPU",
    "SchedulerType=sched/backfill",
    "SchedulerParameters=batch_sched_delay=0",
    "SlurmdParameters=config_overrides",
    "AccountingStorageType=accounting_storage/none",
    "JobAcctGatherType=jobacct_gather/none",
    "JobCompType=jobcomp/filetxt",
    `JobCompLoc=${dir}/jobcomp.txt`,
    "MpiDefault=none",
    "ReturnToService=2",
    // Finished jobs stay visible to `scontrol show job` for 5 minutes.
    `MinJobAge=${minJobAge}`,
    "KillWait=2",
    "InactiveLimit=0",
    "SlurmdTimeout=300",
    "MessageTimeout=20",
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool/%n`,
    `SlurmctldPidFile=${dir}/run/slurmctld.pid`,
    `SlurmdPidFile=${dir}/run/slurmd-%n.pid`,
    `SlurmctldLogFile=${dir}/log/slurmctld.log`,
    `SlurmdLogFile=${dir}/log/slurmd-%n.log`,
    "SlurmctldDebug=info",
    "SlurmdDebug=info",
    `NodeName=n[1-${nodes}] NodeHostname=${
      addrs.length > 0 ? addrs.join(",") : "localhost"
    } NodeAddr=127.0.0.1 Port=${
      nodes === 1 ? ports : `[${ports}]`
    } CPUs=${cpus} RealMemory=1000 State=UNKNOWN`.replace("n[1-1]", "n1"),
    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ...extra,
    "",
  ].join("\n");
}

class BindConflict extends Error {
  override name = "BindConflict";
}

/**
 * A running single-machine Slurm cluster. Create it with {@linkcode startSlurmCluster}, end
 * it with `await using` (or {@linkcode SlurmCluster.close}).
 */
export class SlurmCluster implements AsyncDisposable {
  /** The cluster's private directory (config, state, spool, logs); removed on close. */
  readonly dir: string;
  /** Path of the generated `slurm.conf`. */
  readonly conf: string;
  /** Environment for every Slurm client command: `{ SLURM_CONF }`. */
  readonly env: Readonly<Record<string, string>>;
  /** The node names, `n1` ... `nN`. */
  readonly nodes: readonly string[];
  /** The default (and only) partition. */
  readonly partition = "debug";
  /** The job completion log (`JobCompType=jobcomp/filetxt`). */
  readonly jobcompFile: string;
  /** The controller's log. */
  readonly ctldLog: string;
  /** The controller's port (`SlurmctldPort`). */
  readonly ctldPort: number;
  /** Each node's slurmd port, in node order. */
  readonly nodePorts: readonly number[];

  #roots: number[];
  #closed = false;
  #onUnload = () => this.#killSync();

  /** Internal: use {@linkcode startSlurmCluster}. */
  constructor(init: { dir: string; nodes: string[]; roots: number[]; layout: Layout }) {
    this.dir = init.dir;
    this.conf = `${init.dir}/slurm.conf`;
    this.env = Object.freeze({ SLURM_CONF: this.conf });
    this.nodes = Object.freeze([...init.nodes]);
    this.jobcompFile = `${init.dir}/jobcomp.txt`;
    this.ctldLog = `${init.dir}/log/slurmctld.log`;
    this.#roots = init.roots;
    this.ctldPort = init.layout.ctldPort;
    this.nodePorts = Object.freeze([...init.layout.nodePorts]);
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /**
   * Runs a Slurm client command (`squeue`, `scancel`, ...) against this cluster.
   *
   * @param program The command.
   * @param args Its arguments.
   * @returns Exit code, standard output, and both outputs together.
   */
  client(program: string, args: string[]): Promise<{ code: number; out: string; stdout: string }> {
    return run(program, args, { ...this.env });
  }

  /**
   * The jobs `squeue` still lists (any state), as `ID STATE` lines.
   *
   * @returns One entry per job.
   */
  async queue(): Promise<{ id: string; state: string; name: string }[]> {
    const r = await this.client("squeue", ["-h", "-a", "-t", "all", "-o", "%i|%T|%j"]);
    if (r.code !== 0) throw new Error(`squeue failed: ${r.out}`);
    return r.stdout.split("\n").filter((l) => l !== "").map((l) => {
      const [id, state, name] = l.split("|");
      return { id, state, name };
    });
  }

  /** Stops every daemon and every process of its jobs, then removes {@linkcode dir}. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    globalThis.removeEventListener("unload", this.#onUnload);
    await killAttributed({ roots: this.#roots, match: clusterMatcher(this.conf, this.dir) });
    await removeQuietly(this.dir, true);
  }

  /** Same as {@linkcode SlurmCluster.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #killSync(): void {
    for (const pid of this.#roots) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
  }
}

/** Starts a daemon (it forks into the background) and returns its pid from its pid file. */
async function startDaemon(
  program: string,
  args: string[],
  pidFile: string,
  log: string,
  env: Record<string, string>,
): Promise<number> {
  await removeQuietly(pidFile);
  const r = await run(program, args, env);
  if (r.code !== 0) {
    const text = `${r.out}\n${await readText(log)}`;
    if (/Address already in use/.test(text)) throw new BindConflict(text);
    throw new Error(`${program} ${args.join(" ")} exited with code ${r.code}: ${text.trim()}`);
  }
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pid = await readPid(pidFile);
    if (pid !== null) return pid;
    const text = await readText(log);
    if (/Address already in use/.test(text)) throw new BindConflict(text);
    if (Date.now() > deadline) {
      throw new Error(`${program} wrote no pid file ${pidFile} within 15 s: ${text.trim()}`);
    }
    await sleep(20);
  }
}

/** Waits until every node is idle; throws a BindConflict when a daemon could not bind. */
async function waitReady(
  dir: string,
  env: Record<string, string>,
  nodes: string[],
  roots: number[],
) {
  const deadline = Date.now() + 60_000;
  let last = "";
  for (;;) {
    const logs = await Promise.all(
      ["slurmctld", ...nodes.map((n) => `slurmd-${n}`)].map((n) => readText(`${dir}/log/${n}.log`)),
    );
    if (logs.some((l) => /Address already in use|Unable to bind listen port/.test(l))) {
      throw new BindConflict(logs.join("\n"));
    }
    for (const pid of roots) {
      if (await isGone(pid)) {
        throw new Error(`A Slurm daemon (pid ${pid}) exited while starting: ${logs.join("\n")}`);
      }
    }
    const r = await run("sinfo", ["-h", "-N", "-o", "%N %T"], env);
    last = r.out;
    if (r.code === 0) {
      const states = new Map(
        r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split(" ") as [string, string]),
      );
      if (nodes.every((n) => states.get(n) === "idle")) return;
    }
    if (Date.now() > deadline) {
      throw new Error(`The Slurm nodes were not idle within 60 s: sinfo says ${last}`);
    }
    await sleep(100);
  }
}

/**
 * Starts a single-machine Slurm cluster.
 *
 * @param options Number of nodes and CPUs, extra configuration.
 * @returns The running cluster; dispose it (`await using`) to stop everything.
 * @throws {Error} When the cluster cannot run here ({@linkcode slurmUnavailable}) or a daemon
 *   fails to start.
 * @throws {RangeError} When `nodes` is out of range.
 */
export async function startSlurmCluster(options: SlurmClusterOptions = {}): Promise<SlurmCluster> {
  if (slurmUnavailable !== null) {
    const ci = inCI() ? " (CI=true: Slurm tests must not be skipped)" : "";
    throw new Error(`Cannot start the Slurm cluster${ci}: ${slurmUnavailable}`);
  }
  const nNodes = options.nodes ?? 4;
  if (!Number.isInteger(nNodes) || nNodes < 1 || nNodes > MAX_NODES) {
    throw new RangeError(`'nodes' must be an integer from 1 to ${MAX_NODES}: received ${nNodes}`);
  }
  if (options.nodeHostnames !== undefined && options.nodeHostnames.length !== nNodes) {
    throw new RangeError(
      `'nodeHostnames' must have one name per node (${nNodes}): received ${options.nodeHostnames.length}`,
    );
  }
  const baseDir = options.baseDir ?? "/tmp/dexp-slurm";
  await Deno.mkdir(baseDir, { recursive: true });
  await Deno.chmod(baseDir, 0o755);
  await reapStale(baseDir);
  const id = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const dir = `${baseDir}/sc-${id}`;
  const conf = `${dir}/slurm.conf`;
  const nodes = Array.from({ length: nNodes }, (_, i) => `n${i + 1}`);
  const env = { SLURM_CONF: conf, DEXP_SLURM_TESTBED: dir };
  const roots: number[] = [];
  await Deno.mkdir(dir);
  // munged wants its socket directory world-executable.
  await Deno.chmod(dir, 0o755);
  try {
    const owner: OwnerRecord = {
      pid: Deno.pid,
      starttime: (await readStat(Deno.pid))?.starttime ?? 0,
      conf,
    };
    await Deno.writeTextFile(`${dir}/owner.json`, JSON.stringify(owner) + "\n");
    for (const sub of ["munge", "state", "spool", "run", "log"]) {
      await Deno.mkdir(`${dir}/${sub}`, { mode: 0o755 });
    }
    await Deno.chmod(`${dir}/munge`, 0o755);
    const key = crypto.getRandomValues(new Uint8Array(1024));
    await Deno.writeFile(`${dir}/munge/munge.key`, key, { mode: 0o600 });
    roots.push(
      await startDaemon(
        findTool("munged")!,
        [
          "--force",
          `--socket=${dir}/munge/munge.socket`,
          `--key-file=${dir}/munge/munge.key`,
          `--pid-file=${dir}/munge/munged.pid`,
          `--log-file=${dir}/munge/munged.log`,
          `--seed-file=${dir}/munge/munged.seed`,
        ],
        `${dir}/munge/munged.pid`,
        `${dir}/munge/munged.log`,
        env,
      ),
    );
    const errors: string[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const layout = pickLayout(nNodes, options.tryPorts?.[attempt]);
      await Deno.writeTextFile(
        conf,
        slurmConf(
          dir,
          `dexp${id.replace(/[^0-9a-z]/g, "").slice(-8)}`,
          layout,
          nNodes,
          options.cpus ?? 4,
          options.minJobAge ?? 300,
          options.extraConfig ?? [],
          options.nodeHostnames ?? [],
        ),
      );
      const daemons: number[] = [];
      try {
        daemons.push(
          await startDaemon(
            findTool("slurmctld")!,
            ["-c", "-f", conf],
            `${dir}/run/slurmctld.pid`,
            `${dir}/log/slurmctld.log`,
            env,
          ),
        );
        for (const n of nodes) {
          daemons.push(
            await startDaemon(
              findTool("slurmd")!,
              ["-f", conf, "-N", n],
              `${dir}/run/slurmd-${n}.pid`,
              `${dir}/log/slurmd-${n}.log`,
              env,
            ),
          );
        }
        await waitReady(dir, env, nodes, daemons);
        roots.push(...daemons);
        return new SlurmCluster({ dir, nodes, roots, layout });
      } catch (e) {
        await killAttributed({ roots: daemons });
        if (!(e instanceof BindConflict)) throw e;
        errors.push(e.message.split("\n").find((l) => /in use|bind/i.test(l)) ?? e.message);
        // A fresh start: no state, spool or logs of the failed attempt.
        for (const sub of ["state", "spool", "run", "log"]) {
          await removeQuietly(`${dir}/${sub}`, true);
          await Deno.mkdir(`${dir}/${sub}`, { mode: 0o755 });
        }
      }
    }
    throw new Error(`Cannot bind the Slurm cluster after 8 tries: ${errors.join("; ")}`);
  } catch (e) {
    await killAttributed({ roots, match: clusterMatcher(conf, dir) }).catch(() => {});
    await removeQuietly(dir, true);
    throw e;
  }
}
