// Fixture: a batch program that asks slurmTaskEnding() while its job runs, and again when
// Slurm signals it (with a signal of its own that nothing aborted).
import { slurmTaskEnding } from "../../src/engine/slurm_run.ts";

const ready = Deno.args[0];
const ac = new AbortController();
console.log(`running: ${await slurmTaskEnding(ac.signal)}`);
Deno.addSignalListener("SIGTERM", async () => {
  console.log(`signalled: ${await slurmTaskEnding(ac.signal)}`);
  Deno.exit(0);
});
await Deno.writeTextFile(ready, "");
setInterval(() => {}, 1000);
