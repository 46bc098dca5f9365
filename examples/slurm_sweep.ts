/**
 * A sweep run as one Slurm job array: each array task claims combinations from the run's
 * shared sweep, so a requeued or preempted task neither loses one nor runs one twice. The
 * commands run on the task's node (`local`); nothing here is specific to Slurm.
 *
 * Submit it from a login node, then follow or cancel it:
 *
 *   deno task dexp run --slurm --tasks 4 --array-throttle 2 --sbatch "--time=10:00" examples/slurm_sweep.ts
 *   deno task dexp status
 *   deno task dexp cancel results/slurm_sweep
 *
 * @module
 */

import { experiment } from "../src/engine/mod.ts";
import { sh } from "../mod.ts";

export const slurmSweep = experiment(
  "slurm_sweep",
  { params: { mb: [1, 4, 16], algo: ["md5", "sha1", "sha256"] }, tags: ["example", "slurm"] },
  async (ctx, p) => {
    const r = await ctx.hosts.run(sh`head -c ${p.mb}M /dev/zero | ${p.algo}sum`).quiet();
    const task = `${Deno.env.get("SLURM_ARRAY_JOB_ID") ?? "-"}_${
      Deno.env.get("SLURM_ARRAY_TASK_ID") ?? "-"
    }`;
    await ctx.writeJson("digest.json", {
      task,
      node: Deno.env.get("SLURMD_NODENAME") ?? null,
      digest: r.text()[0].split(" ")[0],
    });
  },
);
