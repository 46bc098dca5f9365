/**
 * `slurmAllocate()`: a Slurm allocation as a group of targets. The allocation is a batch job
 * (`sbatch --wrap "sleep infinity"`) so that it does not depend on this program staying
 * alive; its nodes run commands as job steps (`srun --overlap`).
 *
 * @module
 */

import { type Duration, onExit, quote, resolve, stopTracked, toMillis } from "../process/mod.ts";
import { Group, GroupCommand, type Hosts, hosts } from "../action/mod.ts";
import type { ConnectionParams } from "../ssh/mod.ts";
import { listPartitions, runClient, slurmMessage } from "./_run.ts";
import { SlurmError } from "./errors.ts";
import { type AllocationState, SlurmNode } from "./node.ts";
import { waitEnded } from "./_srun_client.ts";
import { slurmOutcome } from "./state.ts";
import { checkSlurmSources, type SlurmDirection, SlurmTransferTarget } from "./transfer.ts";

/** Where an allocation is while `slurmAllocate()` waits for it. */
export interface SlurmProgress {
  /** The allocation's job id. */
  readonly jobId: string;
  /** Slurm's state: `PENDING`, `CONFIGURING`, `RUNNING`. */
  readonly state: string;
  /** Why it still waits (`Resources`, `Priority`, ...), or null. */
  readonly reason: string | null;
  /** Its place among the pending jobs of its partition (1 = next), or null when running. */
  readonly position: number | null;
  /** Milliseconds since it was submitted. */
  readonly waited: number;
}

/** Options of {@linkcode slurmAllocate}. */
export interface SlurmAllocateOptions {
  /** Number of nodes (`--nodes`), default 1. */
  readonly nodes?: number;
  /**
   * Time limit (`--time`): Slurm's own format (`"30"`, `"1:00:00"`, `"2-00"`) or a dexp
   * duration (`"90s"`, `"2h"`, ms), rounded up to whole seconds. Default: the partition's.
   */
  readonly time?: string | number;
  /** Partition (`--partition`). Default: the cluster's default partition. */
  readonly partition?: string;
  /** CPUs on each node (`--cpus-per-task`, one task per node); each step gets all of them. */
  readonly cpusPerTask?: number;
  /** GPUs (`--gpus`): a count, or Slurm's `type:count`. */
  readonly gpus?: number | string;
  /** More sbatch arguments, as an argv (e.g. `["--account=lab", "--qos=debug"]`). */
  readonly extra?: readonly string[];
  /** Job name (`--job-name`), default `dexp`. */
  readonly name?: string;
  /**
   * Give up when the allocation is still pending after this long: it is cancelled and
   * `slurmAllocate()` rejects. Default: wait as long as it takes.
   */
  readonly pendingLimit?: Duration;
  /** Called while waiting, whenever the state, reason or position changes. */
  readonly onProgress?: (progress: SlurmProgress) => void;
  /** Environment of the Slurm commands (e.g. `{ SLURM_CONF: "/etc/slurm/other.conf" }`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Stops waiting: the allocation is cancelled and `slurmAllocate()` rejects. */
  readonly signal?: AbortSignal;
}

const POLL_MIN = 100;
const POLL_MAX = 5_000;
const RELEASE_DEADLINE = 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return sleep(ms);
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A running Slurm allocation: a group of its nodes (run, spawn, kill, timeout: the whole
 * group API). `await using` (or {@linkcode SlurmAllocation.release}) cancels it. Groups made
 * from it (`where()`, `slice()`) share the allocation: releasing one releases it.
 *
 * @example
 * ```ts ignore
 * // Needs a Slurm cluster, so it is not run by `deno test --doc`.
 * import { slurmAllocate } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * await using nodes = await slurmAllocate({ nodes: 2, time: "10m" });
 * strictEqual(nodes.length, 2);
 * const r = await nodes.run("hostname").quiet(); // job steps inside the allocation
 * strictEqual(r.ok, true);
 * ```
 */
export class SlurmAllocation extends Group<SlurmNode> implements AsyncDisposable {
  /**
   * Makes the group; `slurmAllocate()` does it for you.
   *
   * @param targets The nodes.
   * @internal
   */
  constructor(targets: readonly SlurmNode[]) {
    super(targets);
  }

  /** The allocation's job id (null for an empty group). */
  get jobId(): string | null {
    return this.targets[0]?.jobId ?? null;
  }

  /** The node names, in Slurm's order. */
  get nodes(): string[] {
    return this.targets.map((t) => t.name);
  }

  /**
   * The node with this name.
   *
   * @param name The node's name.
   * @returns The node.
   * @throws {RangeError} If the allocation has no such node.
   */
  node(name: string): SlurmNode {
    const n = this.targets.find((t) => t.name === name);
    if (!n) {
      throw new RangeError(
        `No node named "${name}" in the Slurm allocation ${this.jobId}: it has ${
          this.nodes.map((x) => `"${x}"`).join(", ")
        }`,
      );
    }
    return n;
  }

  /**
   * The allocation's nodes as ssh hosts, for clusters that let users log in to the nodes of
   * their running jobs (e.g. `pam_slurm_adopt`): each host is named after its node and logs
   * in to the node's host name as Slurm records it (`NodeHostName`), or to its `NodeAddr`
   * with `{ address: "NodeAddr" }`. Through them the whole host API works on
   * the allocation: detached jobs, rsync and scp, connection reuse. The allocation still ends
   * with `release()`; close the hosts (or `await using`) before.
   *
   * @param params Connection parameters of every host (user, port, keyfile, known hosts...).
   * @param options `address`: which of Slurm's names of a node ssh logs in to.
   * @returns The hosts, in the allocation's order.
   * @throws {SlurmError} When Slurm does not say the nodes' addresses.
   *
   * @example
   * ```ts ignore
   * import { detach, slurmAllocate } from "@dexp/dexp";
   * await using alloc = await slurmAllocate({ nodes: 2, time: "2h" });
   * await using nodes = await alloc.ssh({ keyfile: "~/.ssh/cluster" });
   * const jobs = await detach(nodes.run("./train.sh"), { name: "train" });
   * ```
   */
  async ssh(
    params: ConnectionParams = {},
    options: { address?: "NodeHostName" | "NodeAddr" } = {},
  ): Promise<Hosts> {
    const first = this.targets[0];
    if (!first) return hosts();
    const field = options.address ?? "NodeHostName";
    if (field !== "NodeHostName" && field !== "NodeAddr") {
      throw new RangeError(
        `'address' must be "NodeHostName" or "NodeAddr": received ${JSON.stringify(field)}`,
      );
    }
    const addrs = await nodeAddresses(this.nodes, field, stateOf(first).env);
    return hosts(this.nodes.map((n) => ({ address: addrs.get(n)!, name: n }))).with(params);
  }

  /**
   * Copies local files and folders (recursively, modes kept) into a folder on every node, in
   * parallel, without ssh: a tar archive streamed into a job step on each node (`tar |
   * srun ... tar -x`). The folder is created; `{host}` in paths is the node's name. Each path
   * lands under its own name; relative folders on the nodes are relative to the home folder.
   * On a cluster with a shared file system, write there instead: every node sees it.
   *
   * @param localPaths Files and folders here.
   * @param remoteDir The folder on each node.
   * @returns A lazy group command: await it for every node's result.
   * @throws {TypeError} If two paths have the same name, or a path names no file or folder.
   */
  put(
    localPaths: string | readonly string[],
    remoteDir: string,
  ): GroupCommand<SlurmTransferTarget> {
    return this.#transfer("put", localPaths, remoteDir);
  }

  /**
   * Copies files and folders from every node into a local folder, in parallel, without ssh:
   * a tar archive streamed out of a job step on each node. Put `{host}` in `localDir` (e.g.
   * `results/{host}/`) to keep nodes apart; folders are created.
   *
   * @param remotePaths Paths on each node (relative ones from the home folder).
   * @param localDir The local folder (per node with `{host}`).
   * @returns A lazy group command: await it for every node's result.
   * @throws {TypeError} If several nodes would write into one folder (no `{host}` or `{i}`),
   *   two paths have the same name, or a path names no file or folder.
   */
  get(
    remotePaths: string | readonly string[],
    localDir: string,
  ): GroupCommand<SlurmTransferTarget> {
    if (this.length > 1 && !/\{(host|i)\}/.test(localDir)) {
      throw new TypeError(
        `get() from ${this.length} nodes into one folder "${localDir}" would mix their files: put {host} in it, e.g. "results/{host}/"`,
      );
    }
    return this.#transfer("get", remotePaths, localDir);
  }

  #transfer(
    direction: SlurmDirection,
    sources: string | readonly string[],
    dest: string,
  ): GroupCommand<SlurmTransferTarget> {
    const paths = typeof sources === "string" ? [sources] : [...sources];
    if (paths.length === 0) {
      throw new TypeError(
        `${direction}() needs at least one ${direction === "put" ? "local" : "remote"} path`,
      );
    }
    const refused = checkSlurmSources(
      direction,
      direction === "put" ? paths.map((p) => p === "" ? p : resolve(p)) : paths,
    );
    if (refused !== null) throw new TypeError(refused);
    const targets = this.targets.map((n) => new SlurmTransferTarget(n, direction, paths, dest));
    return new GroupCommand(targets, (t) => t.describe()).quiet();
  }

  /**
   * Stops the commands still running on the allocation (as `kill()` does), cancels it
   * (`scancel`) and waits until Slurm no longer lists it as pending, running or completing,
   * and until the local `srun` clients of its detached jobs have ended: the allocation owns
   * its steps, so its detached jobs end with it (their state is then `lost`, reason
   * `owner ended`). Safe to call more than once.
   *
   * @throws {SlurmError} When scancel fails.
   */
  async release(): Promise<void> {
    const first = this.targets[0];
    if (!first) return;
    await releaseJob(first.jobId, stateOf(first));
  }

  /** Same as {@linkcode SlurmAllocation.release}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

const states = new WeakMap<SlurmNode, AllocationState>();

function stateOf(n: SlurmNode): AllocationState {
  return states.get(n)!;
}

async function releaseJob(jobId: string, alloc: AllocationState): Promise<void> {
  if (alloc.closed === "was released") return;
  alloc.closed = "was released";
  await stopTracked((p) => p.connection === `slurm:${jobId}`);
  const r = await runClient("scancel", [jobId], alloc.env);
  if (r.code !== 0 && !/Invalid job id|already completing or completed/i.test(r.stderr)) {
    throw new SlurmError(
      "query",
      `Cannot cancel the Slurm allocation ${jobId}: ${slurmMessage(r.stderr)}`,
      { jobId, stderr: r.stderr },
    );
  }
  await waitGone(jobId, alloc.env);
  // The steps of its detached jobs ended with it: so do their local srun clients.
  await Promise.all([...alloc.started ?? []].map((c) => waitEnded(c, 30_000)));
  alloc.started?.clear();
}

/** Waits until squeue no longer lists the job as pending, running or completing. */
async function waitGone(jobId: string, env: Readonly<Record<string, string>>): Promise<void> {
  const deadline = Date.now() + RELEASE_DEADLINE;
  let pause = POLL_MIN;
  for (;;) {
    const r = await runClient("squeue", ["-h", "-j", jobId, "-o", "%T"], env);
    if (r.code !== 0 || r.stdout.trim() === "") return;
    if (Date.now() > deadline) {
      throw new SlurmError(
        "query",
        `The Slurm allocation ${jobId} is still ${r.stdout.trim()} ${
          RELEASE_DEADLINE / 1000
        } s after scancel: ask the cluster's administrators (squeue -j ${jobId})`,
        { jobId },
      );
    }
    await sleep(pause);
    pause = Math.min(POLL_MAX, pause * 1.5);
  }
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`'${what}' must be a positive integer: received ${String(value)}`);
  }
  return value;
}

/**
 * Converts a time limit to Slurm's `--time` format.
 *
 * @param time Slurm's own format, or a dexp duration.
 * @returns The `--time` value.
 * @throws {RangeError} If it is neither.
 */
export function slurmTime(time: string | number): string {
  if (typeof time === "string" && /^\d+(-\d+)?(:\d+){0,2}$/.test(time.trim())) {
    return time.trim();
  }
  let ms: number;
  try {
    ms = toMillis(time, "time");
  } catch {
    throw new RangeError(
      `'time' must be Slurm's format ("30", "1:00:00", "2-00") or a duration ("90s", "2h"): received ${
        JSON.stringify(time)
      }`,
    );
  }
  const total = Math.max(1, Math.ceil(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor(total / 3600) % 24;
  const m = Math.floor(total / 60) % 60;
  const s = total % 60;
  const p = (x: number) => String(x).padStart(2, "0");
  return `${d > 0 ? `${d}-` : ""}${p(h)}:${p(m)}:${p(s)}`;
}

/**
 * The sbatch arguments of an allocation.
 *
 * @param options The allocation's options.
 * @returns The argv after `sbatch`.
 * @throws {RangeError} On bad options.
 */
export function sbatchArgs(options: SlurmAllocateOptions): string[] {
  const nodes = positiveInt(options.nodes ?? 1, "nodes");
  const args = ["--parsable", `--job-name=${options.name ?? "dexp"}`, `--nodes=${nodes}`];
  args.push("--ntasks-per-node=1");
  if (options.cpusPerTask !== undefined) {
    args.push(`--cpus-per-task=${positiveInt(options.cpusPerTask, "cpusPerTask")}`);
  }
  if (options.time !== undefined) args.push(`--time=${slurmTime(options.time)}`);
  if (options.partition !== undefined) {
    if (typeof options.partition !== "string" || !/^[\w.-]+(,[\w.-]+)*$/.test(options.partition)) {
      throw new RangeError(
        `'partition' must be a partition name (letters, digits, '_', '-', '.'): received ${
          JSON.stringify(options.partition)
        }`,
      );
    }
    args.push(`--partition=${options.partition}`);
  }
  if (options.gpus !== undefined) {
    const g = options.gpus;
    if (typeof g === "number") positiveInt(g, "gpus");
    else if (typeof g !== "string" || !/^[\w.:-]+$/.test(g)) {
      throw new RangeError(
        `'gpus' must be a count or Slurm's "type:count": received ${JSON.stringify(g)}`,
      );
    }
    args.push(`--gpus=${g}`);
  }
  // A preempted or failed allocation ends (its commands fail clearly) rather than coming
  // back on other nodes under the same id.
  args.push("--no-requeue", "--output=/dev/null", "--error=/dev/null");
  for (const a of options.extra ?? []) {
    if (typeof a !== "string") {
      throw new TypeError(`'extra' must be an array of sbatch arguments: received ${String(a)}`);
    }
    args.push(a);
  }
  args.push("--wrap", "exec sleep infinity");
  return args;
}

/**
 * Asks Slurm for an allocation, waits until it runs, and returns its nodes as a group: every
 * command of the group runs as a job step on its node (`srun --jobid=J --overlap -w NODE`).
 * The allocation lives until it is released (`await using`, `release()`) or reaches its time
 * limit, even if this program ends.
 *
 * @param options Nodes, time, partition, CPUs, GPUs, more sbatch arguments, a pending limit,
 *   progress.
 * @returns The running allocation.
 * @throws {RangeError} On bad options.
 * @throws {SlurmError} `missing` without Slurm here, `partition` for an unknown partition,
 *   `rejected` when sbatch refuses the job (with its message), `pending` when it is still
 *   pending after `pendingLimit` (it is then cancelled), `ended` when it ends before running.
 *
 * @example
 * ```ts ignore
 * import { slurmAllocate } from "@dexp/dexp";
 * await using nodes = await slurmAllocate({ nodes: 2, time: "1h", partition: "debug" });
 * const r = await nodes.run("hostname").quiet();
 * console.log(r.text());
 * ```
 */
export async function slurmAllocate(options: SlurmAllocateOptions = {}): Promise<SlurmAllocation> {
  const args = sbatchArgs(options);
  const pendingLimit = options.pendingLimit === undefined
    ? Infinity
    : toMillis(options.pendingLimit, "pendingLimit");
  const env = { ...(options.env ?? {}) };
  const submitted = Date.now();
  const r = await runClient("sbatch", args, env);
  if (r.code !== 0) {
    const said = slurmMessage(r.stderr) || `exit code ${r.code}`;
    if (/invalid partition/i.test(r.stderr)) {
      const known = await listPartitions(env);
      throw new SlurmError(
        "partition",
        `Slurm has no partition '${options.partition}': use one of ${
          known.length > 0 ? known.map((p) => `'${p}'`).join(", ") : "the partitions sinfo lists"
        } (sinfo -s shows them)`,
        { stderr: r.stderr },
      );
    }
    throw new SlurmError(
      "rejected",
      `sbatch refused the allocation: ${said}: fix the options (sbatch ${
        args.slice(0, -2).join(" ")
      })`,
      { stderr: r.stderr },
    );
  }
  const jobId = r.stdout.trim().split(";")[0];
  if (!/^\d+$/.test(jobId)) {
    throw new SlurmError("rejected", `sbatch printed no job id: ${JSON.stringify(r.stdout)}`, {
      stderr: r.stderr,
    });
  }
  // Until it runs and is handed over, nobody else holds it: if this program ends meanwhile
  // (Ctrl-C), cancel it rather than leave it to start for nobody.
  const unregister = onExit(() =>
    `${
      Object.entries(env).map(([k, v]) => `${k}=${quote(v)} `).join("")
    }scancel ${jobId} >/dev/null 2>&1`
  );
  try {
    const nodes = await waitRunning(jobId, env, submitted, pendingLimit, options);
    const cpus = await cpusPerNode(jobId, env);
    const alloc: AllocationState = { jobId, env, closed: null };
    const targets = nodes.map((n) => {
      const t = new SlurmNode(n, cpus.get(n) ?? null, alloc);
      states.set(t, alloc);
      return t;
    });
    return new SlurmAllocation(targets);
  } catch (e) {
    // Never leave an allocation behind that nobody holds.
    await runClient("scancel", [jobId], env).catch(() => {});
    if (e instanceof SlurmError && e.kind === "pending" || options.signal?.aborted) {
      await waitGone(jobId, env).catch(() => {});
    }
    throw e;
  } finally {
    unregister();
  }
}

async function waitRunning(
  jobId: string,
  env: Record<string, string>,
  submitted: number,
  pendingLimit: number,
  options: SlurmAllocateOptions,
): Promise<string[]> {
  let pause = POLL_MIN;
  let last = "";
  const signal = options.signal;
  for (;;) {
    signal?.throwIfAborted();
    const q = await runClient("squeue", ["-h", "-j", jobId, "-t", "all", "-o", "%T|%r|%N|%P"], env);
    if (q.code !== 0 && !/Invalid job id/i.test(q.stderr)) {
      throw new SlurmError("query", `squeue failed: ${slurmMessage(q.stderr)}`, {
        jobId,
        stderr: q.stderr,
      });
    }
    const line = q.code === 0 ? q.stdout.trim().split("\n")[0] ?? "" : "";
    if (line === "") {
      throw new SlurmError(
        "ended",
        `The Slurm allocation ${jobId} disappeared before it started (squeue no longer lists it): submit it again`,
        { jobId },
      );
    }
    const [state, reasonText, nodeList, partition] = line.split("|");
    const s = slurmOutcome(state, reasonText, jobId);
    const waited = Date.now() - submitted;
    if (s.final) {
      throw new SlurmError(
        "ended",
        `The Slurm allocation ${jobId} ended before it started: ${s.state}${
          s.reason ? ` (${s.reason})` : ""
        }: check the options and the partition's limits, then allocate again`,
        { jobId },
      );
    }
    if (s.outcome === "running" && s.state === "RUNNING") {
      options.onProgress?.({ jobId, state: s.state, reason: null, position: null, waited });
      return await expandHosts(nodeList, env);
    }
    let position: number | null = null;
    if (options.onProgress || waited > pendingLimit) {
      position = await queuePosition(jobId, partition, env);
      const key = `${s.state}|${s.reason}|${position}`;
      if (key !== last) {
        last = key;
        options.onProgress?.({ jobId, state: s.state, reason: s.reason, position, waited });
      }
    }
    if (waited > pendingLimit) {
      throw new SlurmError(
        "pending",
        `The Slurm allocation ${jobId} was still pending after ${
          Math.round(pendingLimit / 100) / 10
        } s (reason: ${s.reason ?? "none given"}${
          position !== null ? `, position ${position} in partition '${partition}'` : ""
        }), so it was cancelled: ask for fewer nodes or less time, use another partition, or raise 'pendingLimit'`,
        { jobId },
      );
    }
    await abortableSleep(Math.min(pause, Math.max(10, pendingLimit - waited + 10)), signal);
    pause = Math.min(POLL_MAX, pause * 1.5);
  }
}

async function queuePosition(
  jobId: string,
  partition: string,
  env: Record<string, string>,
): Promise<number | null> {
  const r = await runClient(
    "squeue",
    ["-h", "-t", "PENDING", "-p", partition, "--sort=-p,i", "-o", "%i"],
    env,
  );
  if (r.code !== 0) return null;
  const i = r.stdout.split("\n").map((l) => l.trim()).indexOf(jobId);
  return i === -1 ? null : i + 1;
}

async function expandHosts(list: string, env: Record<string, string>): Promise<string[]> {
  const r = await runClient("scontrol", ["show", "hostnames", list], env);
  if (r.code !== 0) {
    throw new SlurmError(
      "query",
      `scontrol show hostnames ${list} failed: ${slurmMessage(r.stderr)}`,
    );
  }
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Each node's `NodeHostName` or `NodeAddr`, from one `scontrol show node -o`. */
async function nodeAddresses(
  nodes: readonly string[],
  field: "NodeHostName" | "NodeAddr",
  env: Readonly<Record<string, string>>,
): Promise<Map<string, string>> {
  const r = await runClient("scontrol", ["show", "node", "-o", nodes.join(",")], env);
  const out = new Map<string, string>();
  for (const line of r.code === 0 ? r.stdout.split("\n") : []) {
    const name = /\bNodeName=(\S+)/.exec(line)?.[1];
    const addr = new RegExp(`\\b${field}=(\\S+)`).exec(line)?.[1];
    if (name !== undefined && addr !== undefined) out.set(name, addr);
  }
  const missing = nodes.filter((n) => !out.has(n));
  if (missing.length > 0) {
    throw new SlurmError(
      "query",
      `Slurm gave no ${field} for node(s) ${missing.map((n) => `'${n}'`).join(", ")}${
        r.code !== 0 ? `: ${slurmMessage(r.stderr)}` : ""
      }: check 'scontrol show node ${missing.join(",")}'`,
    );
  }
  return out;
}

/** CPUs of the job on each node, from `scontrol show job -d` (`Nodes=n[1-2] CPU_IDs=0-2`). */
async function cpusPerNode(
  jobId: string,
  env: Record<string, string>,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const r = await runClient("scontrol", ["show", "job", "-d", "-o", jobId], env);
  if (r.code !== 0) return out;
  for (const m of r.stdout.matchAll(/\bNodes=(\S+) CPU_IDs=(\S+)/g)) {
    const count = m[2].split(",").reduce((n, part) => {
      const [a, b] = part.split("-").map(Number);
      return n + (b === undefined ? 1 : b - a + 1);
    }, 0);
    if (!Number.isFinite(count) || count <= 0) continue;
    for (const n of await expandHosts(m[1], env)) out.set(n, count);
  }
  return out;
}
