/**
 * `attachJobs()` that knows Slurm: takes back detached jobs from their references, those on
 * the nodes of a Slurm allocation too (the jobs layer cannot make a `SlurmNode`). The main
 * module exports this one.
 *
 * @module
 */

import { attachJobs as attachAny, type JobGroup, type JobRef } from "../jobs/mod.ts";
import { type AllocationState, SlurmNode } from "./node.ts";

/**
 * Takes jobs back from their references (from `job.ref`, `group.refs`, or their JSON text),
 * e.g. in another process after the one that started them died: jobs on ssh hosts, local
 * jobs, and jobs on the nodes of a Slurm allocation (their steps are reached with `srun`
 * again, with the Slurm environment recorded in the reference). Jobs on the same host share
 * one target, so one connection; nodes of one allocation share it.
 *
 * A job on an allocation node lives only as long as its allocation and its local `srun`
 * client: once the allocation was released or has ended, its state is `lost` (reason
 * `owner ended`).
 *
 * @param refs One reference, a list, or JSON text of either.
 * @returns The jobs.
 * @throws {TypeError} If a reference is malformed.
 *
 * @example
 * ```ts
 * import { attachJobs, detach, local } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const root = await Deno.makeTempDir();
 * const started = await detach(local(1).run("echo hi"), { name: "again", root });
 * const saved = JSON.stringify(started.refs); // e.g. written to a file
 * const jobs = attachJobs(saved); // in any later process
 * strictEqual((await jobs.wait()).results[0].text(), "hi");
 * await jobs.forget();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function attachJobs(refs: JobRef | readonly JobRef[] | string): JobGroup {
  const allocations = new Map<string, AllocationState>();
  return attachAny(refs, {
    target: (ref) => {
      if (!("slurm" in ref.host)) return undefined;
      const s = ref.host.slurm;
      const key = `${s.jobId}\0${JSON.stringify(s.env)}\0${s.clients}`;
      let a = allocations.get(key);
      if (a === undefined) {
        a = { jobId: s.jobId, env: { ...s.env }, closed: null, clients: s.clients };
        allocations.set(key, a);
      }
      return new SlurmNode(s.node, s.cpus, a);
    },
  });
}
