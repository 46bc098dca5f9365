/**
 * A job's reference: plain JSON (where the host is, how to log in, which job), enough for any
 * process to find the job again.
 *
 * @module
 */

import { LOCAL, type Target } from "../process/mod.ts";
import { Host, type HostSpec } from "../ssh/mod.ts";
import { checkJobId, checkRemotePath } from "./names.ts";

/** A serialisable reference to a detached job. */
export interface JobRef {
  /** Format version. */
  readonly v: 1;
  /** The host (a {@linkcode HostSpec}, connection parameters included), or a local label. */
  readonly host: HostSpec | { readonly local: string };
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
 * The host part of a reference for a target: a host's spec, or `{ local: label }`.
 *
 * @param target A {@linkcode Host} or a local target.
 * @returns The spec.
 * @throws {TypeError} For other targets (transfers).
 */
export function hostOfTarget(target: Target): JobRef["host"] {
  if (target instanceof Host) {
    const address = target.address.includes(":") ? `[${target.address}]` : target.address;
    const spec: HostSpec = { address, name: target.name, ...target.params };
    if (Object.keys(target.tags).length) spec.tags = target.tags;
    return spec;
  }
  if (target === LOCAL || /^local(\[\d+\])?$/.test(target.label)) return { local: target.label };
  throw new TypeError(
    `Detached jobs run on hosts and local targets: ${
      JSON.stringify(target.label)
    } is neither (the nodes of a Slurm allocation are hosts through 'await alloc.ssh()')`,
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
  if (typeof h.local === "string") {
    if (!/^local(\[\d+\])?$/.test(h.local)) throw bad("'host.local' must be a local label");
  } else if (typeof h.address !== "string") {
    throw bad("'host' needs an 'address' or 'local'");
  }
  return value as JobRef;
}

/**
 * The target a reference points at. Equal specs give the same target object (so connections
 * are shared) when the same cache is passed.
 *
 * @param ref The reference.
 * @param cache Targets made so far, by spec.
 * @returns The target.
 * @throws {TypeError} If the host spec is malformed.
 */
export function targetOfRef(ref: JobRef, cache: Map<string, Target> = new Map()): Target {
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
  const sorted = Object.fromEntries(
    Object.entries(host).filter(([k]) => k !== "tags").sort(([a], [b]) => a < b ? -1 : 1),
  );
  return JSON.stringify(sorted);
}
