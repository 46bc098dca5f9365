/**
 * `claimJobName(host, name)`: settles a start that may or may not have happened. A start made
 * with `detach(..., { unique: true })` claims its name on the host before it runs anything;
 * this claims the same name as a fence. Exactly one of the two wins, so a controller that
 * lost track of a start (it was killed, or its connection dropped, after sending it) learns
 * either that the job is there, or that it never will be, and only then starts it again.
 *
 * @module
 */

import type { Target } from "../process/mod.ts";
import { failureText, runScripts } from "./_batch.ts";
import { Job } from "./job.ts";
import { hostOfTarget } from "./job_ref.ts";
import { checkJobId, checkJobName, checkRemotePath, DEFAULT_JOBS_ROOT } from "./names.ts";
import { claimScript } from "./supervisor.ts";

/**
 * Who holds a job name on a host, as {@linkcode claimJobName} found it:
 * - `fenced`: this call fenced the name off; no start of it will ever run there;
 * - `fence`: an earlier call fenced it off;
 * - `started`: a start claimed it and its job runs, or ran (`job` attaches to it);
 * - `starting`: a start claimed it and has not finished starting (`age`: seconds since the
 *   claim, by the host's clock); ask again;
 * - `failed`: a start claimed it, then failed before the job began (it removed its folder),
 *   so nothing of that name runs.
 */
export type NameClaim =
  | { readonly state: "fenced" | "fence" }
  | { readonly state: "started"; readonly job: Job }
  | { readonly state: "starting"; readonly id: string | null; readonly age: number }
  | { readonly state: "failed"; readonly id: string };

/** Options of {@linkcode claimJobName}. */
export interface NameClaimOptions {
  /** The jobs root on the host (default `~/.dexp/jobs`). */
  readonly root?: string;
}

/**
 * Claims a job name on a host as a fence, unless a start of that name claimed it first, and
 * says which happened. Use it with starts made by `detach(..., { unique: true })`, when you do
 * not know whether a start reached the host: after `fenced`, `fence` or `failed` the name's
 * job never runs (start it again under a new name); after `started` it is there (attach to
 * `claim.job`); after `starting`, ask again shortly.
 *
 * @param on The host (or local target), or a group of one.
 * @param name The job name (for `unique` starts), or the claim key given to `detach`.
 * @param options Another jobs root.
 * @returns Who holds the name.
 * @throws {TypeError} For a bad name or root.
 * @throws {Error} If the host cannot be reached or the claim cannot be written.
 *
 * @example
 * ```ts
 * import { claimJobName, detach, local } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const slot = local(1);
 * // A start that did happen: the claim names its job.
 * const jobs = await detach(slot.run("true"), { name: "once", root, unique: true });
 * strictEqual((await claimJobName(slot, "once", { root })).state, "started");
 * // A name no start claimed: fenced off, so a late start of it would fail.
 * strictEqual((await claimJobName(slot, "never", { root })).state, "fenced");
 * await jobs.forget();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function claimJobName(
  on: Target | Iterable<Target>,
  name: string,
  options: NameClaimOptions = {},
): Promise<NameClaim> {
  const all = Symbol.iterator in on ? [...(on as Iterable<Target>)] : [on as Target];
  if (all.length !== 1) {
    throw new TypeError(`claimJobName takes one host: received ${all.length}`);
  }
  const target = all[0];
  checkJobName(name);
  const root = checkRemotePath(options.root ?? DEFAULT_JOBS_ROOT, "'root'");
  const host = hostOfTarget(target); // Rejects transfer targets.
  const [r] = await runScripts([target], [claimScript(root, name)]);
  const line = r.stdout.split("\n").find((l) => l.startsWith("claim "));
  if (!r.ok || !line) {
    throw new Error(
      `Cannot claim the job name '${name}' on ${target.label}: ${
        r.ok ? "the claim script printed no answer" : failureText(r)
      }`,
    );
  }
  const [, kind, id, state, age] = line.split(" ");
  if (kind === "fenced" || kind === "fence") return { state: kind };
  if (kind === "empty") return { state: "starting", id: null, age: Number(id) || 0 };
  if (kind === "job" && id) {
    checkJobId(id);
    if (state === "started") return { state, job: new Job({ v: 1, host, id, root }, target) };
    if (state === "starting") return { state, id, age: Number(age) || 0 };
    if (state === "failed") return { state, id };
  }
  throw new Error(`Cannot claim the job name '${name}' on ${target.label}: unexpected '${line}'`);
}

/**
 * Seconds after which a claim whose job never wrote its meta data is a start that died (its
 * shell killed, its host rebooted): the start script writes the meta data a few statements
 * after the claim.
 */
const STALE_START_S = 300;

/**
 * Settles a start that may or may not have reached a host: claims the name (or key) with
 * {@linkcode claimJobName}, asking again while a start of it is under way, and gives the job
 * if one started, or `null` if none will (the name is fenced off now, or its start failed or
 * died).
 *
 * @param on The host (or local target), or a group of one.
 * @param name The job name (for `unique` starts), or the claim key given to `detach`.
 * @param options Another jobs root; `signal` stops the waiting (the call rejects).
 * @returns The job, or `null`.
 * @throws {Error} If the host cannot be reached, or `signal` aborts.
 */
export async function settleJobName(
  on: Target | Iterable<Target>,
  name: string,
  options: NameClaimOptions & { readonly signal?: AbortSignal } = {},
): Promise<Job | null> {
  const { signal, ...o } = options;
  for (;;) {
    signal?.throwIfAborted();
    const c = await claimJobName(on, name, o);
    if (c.state === "started") return c.job;
    if (c.state !== "starting" || c.age >= STALE_START_S) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}
