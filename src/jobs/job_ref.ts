/**
 * A job's reference: plain JSON (where the host is, how to log in, which job), enough for any
 * process to find the job again.
 *
 * @module
 */

import { LOCAL, type Target } from "../process/mod.ts";
import { Host, type HostSpec } from "../ssh/mod.ts";
import { isJobHost, type SlurmJobHost } from "./job_host.ts";
import { checkJobId, checkRemotePath } from "./names.ts";

/** A serialisable reference to a detached job. */
export interface JobRef {
  /** Format version. */
  readonly v: 1;
  /**
   * The host (a {@linkcode HostSpec}, connection parameters included), a local label, or a
   * node of a Slurm allocation (`{ slurm: { jobId, node, ... } }`).
   */
  readonly host: HostSpec | { readonly local: string } | SlurmJobHost;
  /** The job id (its folder name). */
  readonly id: string;
  /** The folder that holds the job folders on that host (`~/...` or absolute). */
  readonly root: string;
}

class LocalJobTarget implements Target {
  readonly label: string;
  constructor(label: string) {
    this.label = label;
  }
  launch(spec: Parameters<Target["launch"]>[0]): ReturnType<Target["launch"]> {
    return LOCAL.launch(spec);
  }
}

/**
 * The host part of a reference for a target: a host's spec, `{ local: label }`, or what a
 * {@linkcode JobHost} says of itself (a Slurm allocation's node).
 *
 * @param target A {@linkcode Host}, a local target or a job host.
 * @returns The spec.
 * @throws {TypeError} For other targets (transfers).
 */
export function hostOfTarget(target: Target): JobRef["host"] {
  if (isJobHost(target)) return target.jobHost;
  if (target instanceof Host) {
    const address = target.address.includes(":") ? `[${target.address}]` : target.address;
    const spec: HostSpec = { address, name: target.name, ...target.params };
    if (Object.keys(target.tags).length) spec.tags = target.tags;
    return spec;
  }
  if (target === LOCAL || /^local(\[\d+\])?$/.test(target.label)) return { local: target.label };
  throw new TypeError(
    `Detached jobs run on hosts, local targets and the nodes of a Slurm allocation: ${
      JSON.stringify(target.label)
    } is none of them`,
  );
}

/**
 * Checks a reference read from JSON.
 *
 * @param value The parsed value.
 * @returns The reference.
 * @throws {TypeError} If it is not a valid reference; the message says what is wrong.
 */
export function checkJobRef(value: unknown): JobRef {
  const bad = (why: string) =>
    new TypeError(`Not a job reference: ${why}: received ${JSON.stringify(value)}`);
  if (typeof value !== "object" || value === null) throw bad("expected an object");
  const r = value as Record<string, unknown>;
  if (r.v !== 1) throw bad("'v' must be 1");
  if (typeof r.id !== "string") throw bad("'id' must be a string");
  if (typeof r.root !== "string") throw bad("'root' must be a string");
  checkJobId(r.id);
  checkRemotePath(r.root, "'root'");
  const h = r.host as Record<string, unknown> | undefined;
  if (typeof h !== "object" || h === null) throw bad("'host' must be an object");
  if ("slurm" in h) {
    checkSlurmHost(h.slurm, bad);
  } else if (typeof h.local === "string") {
    if (!/^local(\[\d+\])?$/.test(h.local)) throw bad("'host.local' must be a local label");
  } else if (typeof h.address !== "string") {
    throw bad("'host' needs an 'address' or 'local'");
  }
  return value as JobRef;
}

function checkSlurmHost(s: unknown, bad: (why: string) => TypeError): void {
  if (typeof s !== "object" || s === null) throw bad("'host.slurm' must be an object");
  const o = s as Record<string, unknown>;
  if (typeof o.jobId !== "string" || !/^\d+$/.test(o.jobId)) {
    throw bad("'host.slurm.jobId' must be a Slurm job id (digits)");
  }
  if (typeof o.node !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.node)) {
    throw bad("'host.slurm.node' must be a node name");
  }
  if (o.cpus !== null && !(Number.isInteger(o.cpus) && (o.cpus as number) > 0)) {
    throw bad("'host.slurm.cpus' must be null or a positive integer");
  }
  const env = o.env;
  if (
    typeof env !== "object" || env === null ||
    Object.entries(env).some(([k, v]) =>
      !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== "string"
    )
  ) {
    throw bad("'host.slurm.env' must map variable names to strings");
  }
  if (typeof o.clients !== "string" || !o.clients.startsWith("/")) {
    throw bad("'host.slurm.clients' must be an absolute folder");
  }
  checkRemotePath(o.clients, "'host.slurm.clients'");
}

/**
 * The target a reference points at. Equal specs give the same target object (so connections
 * are shared) when the same cache is passed.
 *
 * @param ref The reference.
 * @param cache Targets made so far, by spec.
 * @returns The target.
 * @throws {TypeError} If the host spec is malformed, or names a Slurm node (the jobs layer
 *   cannot make one: attach it with the `attachJobs` of the main module).
 */
export function targetOfRef(ref: JobRef, cache: Map<string, Target> = new Map()): Target {
  if ("slurm" in ref.host) {
    throw new TypeError(
      `Job ${ref.id} runs on the node ${ref.host.slurm.node} of the Slurm allocation ${ref.host.slurm.jobId}: take it back with attachJobs() of "@dexp/dexp" (the main module), which knows Slurm`,
    );
  }
  const key = "local" in ref.host ? `local:${ref.host.local}` : hostKey(ref.host);
  let t = cache.get(key);
  if (t === undefined) {
    t = "local" in ref.host
      ? (ref.host.local === "local" ? LOCAL : new LocalJobTarget(ref.host.local))
      : new Host(ref.host as HostSpec);
    cache.set(key, t);
  }
  return t;
}

/**
 * A key that is equal for references to the same machine and login (local targets share one).
 *
 * @param host The host part of a reference.
 * @returns The key.
 */
export function hostKey(host: JobRef["host"]): string {
  if ("local" in host) return "local";
  if ("slurm" in host) {
    const { jobId, node, env } = host.slurm;
    const sorted = Object.entries(env).sort(([a], [b]) => a < b ? -1 : 1);
    return `slurm:${JSON.stringify([jobId, node, sorted])}`;
  }
  const sorted = Object.fromEntries(
    Object.entries(host).filter(([k]) => k !== "tags").sort(([a], [b]) => a < b ? -1 : 1),
  );
  return JSON.stringify(sorted);
}
