// Fixture for the Slurm requeue tests: combination 0 runs a long command (which Slurm's
// signal ends too) until the gate file exists; every start is recorded with its array task.
import { experiment } from "../../src/engine/mod.ts";

const dir = Deno.env.get("DEXP_T_DIR") ?? ".";
const task = `${Deno.env.get("SLURM_ARRAY_JOB_ID")}_${Deno.env.get("SLURM_ARRAY_TASK_ID")}`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

experiment(
  "cut",
  { params: { i: [0, 1, 2] }, maxRestarts: 0 },
  async (ctx, p) => {
    await Deno.writeTextFile(`${dir}/started.txt`, `${p.i} ${task} ${Deno.pid}\n`, {
      append: true,
    });
    if (p.i === 0 && !(await exists(`${dir}/gate`))) {
      await ctx.spawn(`echo $$ > ${dir}/sleep.pid; exec sleep 300`);
    }
    await ctx.writeFile("out.txt", `${p.i}\n`);
  },
);
