/**
 * Who holds a claim: host, process id, process start time; and whether that process lives.
 *
 * @module
 */

import { readProcStat } from "../process/mod.ts";

/** The process that holds a claim. */
export interface Owner {
  /** The host name (`Deno.hostname()` unless overridden). */
  host: string;
  /** The process id on that host. */
  pid: number;
  /**
   * The first 8 hex digits of the kernel boot id (`/proc/sys/kernel/random/boot_id`), or `""`
   * when unknown. Two owners are on the same running machine only if host and boot match.
   */
  boot: string;
  /**
   * The process start time in clock ticks since boot (`/proc/PID/stat` field 22), or -1 when
   * unknown. With `pid` it tells a live owner from a reused pid.
   */
  start: number;
  /** Distinguishes several sweepers opened by one process. */
  instance: number;
  /**
   * The batch scheduler's id of the job this process runs as (Slurm's `12_3` for an array
   * task), when it is one. A scheduler never runs two instances of one job at once: a claim
   * by another process of the same job was made before the job was requeued.
   */
  job?: string;
}

/** Whether an owner is alive, and how that was decided. */
export type Liveness =
  | "alive"
  | "dead-pid"
  | "pid-reused"
  | "lease-valid"
  | "lease-expired"
  | "job-restarted";

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The start time of a live process, in clock ticks since boot, from `/proc/PID/stat` (Linux).
 *
 * @param pid The process id.
 * @returns The start time, or `undefined` if the process does not exist, is a zombie, or the
 * information is unavailable (not Linux, no read permission).
 * @example
 * ```ts
 * import { processStartTime } from "./owner.ts";
 * import { ok } from "node:assert";
 * const ticks = processStartTime(Deno.pid); // e.g. 44397
 * ok(typeof ticks === "number" && ticks > 0);
 * ```
 */
export function processStartTime(pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const stat = readProcStat(pid);
  return stat && !stat.gone ? stat.startTicks : undefined;
}

let bootId: string | undefined;
function currentBoot(): string {
  if (bootId === undefined) {
    bootId = (readText("/proc/sys/kernel/random/boot_id") ?? "").replaceAll("-", "").trim()
      .slice(0, 8);
  }
  return bootId;
}

let instances = 0;

/**
 * Describes the current process as a claim owner.
 *
 * @param host The host name to use (default `Deno.hostname()`); set it when host names are not
 * unique among the machines that share a sweep.
 * @param job The batch scheduler's id of the job this process runs as, if any.
 * @returns A new owner with its own instance number.
 * @example
 * ```ts
 * import { currentOwner } from "./owner.ts";
 * import { deepStrictEqual } from "node:assert";
 * const me = currentOwner();
 * deepStrictEqual(me.pid === Deno.pid, true);
 * ```
 */
export function currentOwner(host?: string, job?: string): Owner {
  let h = host;
  if (h === undefined) {
    try {
      h = Deno.hostname();
    } catch {
      h = "localhost";
    }
  }
  return {
    host: h.replace(/[\t\n\r|]/g, "_"),
    pid: Deno.pid,
    boot: currentBoot(),
    start: processStartTime(Deno.pid) ?? -1,
    instance: ++instances,
    ...(job !== undefined && job !== "" ? { job: job.replace(/[\t\n\r|]/g, "_") } : {}),
  };
}

/** The compact text form of an owner used in journal records. */
export function ownerKey(o: Owner): string {
  const key = `${o.host}|${o.pid}|${o.boot}|${o.start}|${o.instance}`;
  return o.job !== undefined ? `${key}|${o.job}` : key;
}

/** Reads an owner key back. */
export function parseOwnerKey(key: string): Owner {
  const parts = key.split("|");
  // The host and job may not contain '|' (ownerKey replaces it): 5 parts, 6 with a job.
  const ok = parts.length === 5 || parts.length === 6;
  const [host, pid, boot, start, instance, job] = ok ? parts : [key, "0", "", "-1", "0"];
  return {
    host,
    pid: Number(pid),
    boot,
    start: Number(start),
    instance: Number(instance),
    ...(job !== undefined ? { job } : {}),
  };
}

/**
 * Decides whether an owner lives, as seen from `me`.
 *
 * On the same running machine (same host name and boot id, with known start times) the
 * process table decides: the pid must exist, not be a zombie, and have the recorded start
 * time. Otherwise the lease decides: alive until `leaseExpiresAt` (a wall-clock time, so
 * clocks of hosts sharing a sweep must agree to well within the lease duration). Before
 * both, an owner of the same batch job as `me` but another process is an earlier instance
 * of that job (requeued): dead, wherever it ran.
 *
 * @param owner The owner to check.
 * @param me The owner doing the check (its host and boot id).
 * @param leaseExpiresAt The end of the owner's last lease, in ms since the epoch.
 * @param now The current time, in ms since the epoch.
 * @returns How the owner was judged.
 * @example
 * ```ts
 * import { currentOwner, liveness } from "./owner.ts";
 * import { deepStrictEqual } from "node:assert";
 * const me = currentOwner();
 * deepStrictEqual(liveness(me, me, 0, Date.now()), "alive");
 * ```
 */
export function liveness(owner: Owner, me: Owner, leaseExpiresAt: number, now: number): Liveness {
  if (
    owner.job !== undefined && owner.job === me.job &&
    !(owner.host === me.host && owner.boot === me.boot && owner.pid === me.pid &&
      owner.start === me.start)
  ) {
    return "job-restarted";
  }
  if (owner.host === me.host && owner.boot !== "" && owner.boot === me.boot && owner.start >= 0) {
    if (owner.pid === me.pid) return owner.start === me.start ? "alive" : "pid-reused";
    const start = processStartTime(owner.pid);
    if (start === undefined) {
      // Gone, a zombie, or /proc unreadable: make sure /proc works before declaring death.
      return processStartTime(Deno.pid) === undefined
        ? (leaseExpiresAt > now ? "lease-valid" : "lease-expired")
        : "dead-pid";
    }
    return start === owner.start ? "alive" : "pid-reused";
  }
  return leaseExpiresAt > now ? "lease-valid" : "lease-expired";
}

/**
 * True if {@linkcode liveness} says the owner lives.
 *
 * @param l A liveness verdict.
 * @returns True for "alive" and "lease-valid".
 */
export function isAlive(l: Liveness): boolean {
  return l === "alive" || l === "lease-valid";
}
