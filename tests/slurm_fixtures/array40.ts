// Fixture for the Slurm array tests: 40 fast combinations; the first two block until the
// gate file exists (so that the test can requeue and cancel the tasks that hold them), and
// every start is recorded with the array task that made it.
import { experiment } from "../../src/engine/mod.ts";

const dir = Deno.env.get("DEXP_T_DIR") ?? ".";
const n = Number(Deno.env.get("DEXP_T_N") ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
  "array40",
  { params: { i: Array.from({ length: n }, (_, i) => i) }, maxRestarts: 0 },
  async (ctx, p) => {
    await Deno.writeTextFile(`${dir}/started.txt`, `${p.i} ${task} ${Deno.pid}\n`, {
      append: true,
    });
    if (p.i < 2) {
      while (!(await exists(`${dir}/gate`))) {
        if (ctx.signal.aborted) return;
        await sleep(50);
      }
    }
    await ctx.writeFile("out.txt", `${p.i}\n`);
  },
);
