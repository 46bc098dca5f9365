// Private: running the job scripts on targets, one command per host, through the group API.

import { GroupCommand } from "../action/mod.ts";
import type { ProcessResult, Target } from "../process/mod.ts";
import { isJobHost } from "./job_host.ts";
import { hostKey, hostOfTarget, type JobRef } from "./job_ref.ts";
import { decideStatus, type JobStatus, parseReports } from "./job_status.ts";
import { type JobPlace, statusScript } from "./supervisor.ts";

/** What the batch helpers need of a job. */
export interface Placed extends JobPlace {
  readonly target: Target;
  readonly ref: JobRef;
}

/** Runs one script per target (in parallel, quiet, never throwing). */
export async function runScripts(
  targets: readonly Target[],
  scripts: readonly string[],
  captureLimit = 64 * 1024 * 1024,
  concurrency = 256,
): Promise<ProcessResult[]> {
  if (targets.length === 0) return [];
  const r = await new GroupCommand(targets, (_t, i) => scripts[i])
    .quiet().noThrow().captureLimit(captureLimit).concurrency(concurrency);
  return [...r.results];
}

/** Why a helper script failed on its host, in one line. */
export function failureText(r: ProcessResult): string {
  const err = r.stderr.trim().split("\n").slice(-3).join("; ");
  return r.reason ??
    (`${r.failure}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ""}${err ? `: ${err}` : ""}`);
}

/** Groups jobs by host: one entry per machine and login, jobs in input order. */
export function byHost<J extends Placed>(jobs: readonly J[]): { target: Target; jobs: J[] }[] {
  const groups = new Map<string, { target: Target; jobs: J[] }>();
  for (const j of jobs) {
    const key = hostKey(j.ref.host ?? hostOfTarget(j.target));
    let g = groups.get(key);
    if (!g) groups.set(key, g = { target: j.target, jobs: [] });
    g.jobs.push(j);
  }
  return [...groups.values()];
}

/** The states of many jobs: one round trip per host. */
export async function statuses(jobs: readonly Placed[]): Promise<JobStatus[]> {
  const groups = byHost(jobs);
  const results = await runScripts(
    groups.map((g) => g.target),
    groups.map((g) => statusScript(g.jobs)),
  );
  const out = new Map<Placed, JobStatus>();
  // A job host whose jobs can no longer run (a released Slurm allocation): its jobs are lost.
  const ended = await Promise.all(
    groups.map((g, i) =>
      !results[i].ok && isJobHost(g.target) ? g.target.jobsEnded().catch(() => null) : null
    ),
  );
  groups.forEach((g, i) => {
    const r = results[i];
    const why = ended[i];
    if (!r.ok && why !== null) {
      for (const j of g.jobs) out.set(j, { state: "lost", reason: "owner ended", detail: why });
      return;
    }
    if (!r.ok) {
      for (const j of g.jobs) out.set(j, { state: "unknown", detail: failureText(r) });
      return;
    }
    const reports = parseReports(r.stdout);
    g.jobs.forEach((j, k) => {
      const rep = reports[k];
      out.set(
        j,
        rep && rep.id === j.id
          ? decideStatus(rep)
          : { state: "unknown", detail: "the status script answered nothing for this job" },
      );
    });
  });
  return jobs.map((j) => out.get(j)!);
}

/** Waits, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
