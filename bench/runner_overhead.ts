/**
 * Benchmark: the overhead of the experiment runner per combination.
 *
 * Runs N combinations (default 1000) whose body runs the local command `true`, through
 * `runExperiments` (result folders, logs, run.json, checkpoint journal), and the same N
 * `true` commands in a plain loop; the difference divided by N is dexp's overhead per
 * combination. The target is under 10 ms.
 *
 *   deno run -A bench/runner_overhead.ts [N]
 *
 * @module
 */

import { cmd } from "../mod.ts";
import { defineExperiment, runExperiments } from "../src/engine/mod.ts";

const n = Number(Deno.args[0] ?? 1000);
const results = await Deno.makeTempDir({ prefix: "dexp-bench-" });
try {
  // Warm up the process layer.
  for (let i = 0; i < 20; i++) await cmd("true").quiet();

  const t0 = performance.now();
  for (let i = 0; i < n; i++) await cmd("true").quiet();
  const plain = performance.now() - t0;

  const e = defineExperiment(
    "overhead",
    { params: { i: Array.from({ length: n }, (_, i) => i) } },
    async (ctx) => {
      await ctx.spawn("true");
    },
  );
  const t1 = performance.now();
  const summary = await runExperiments([e], { results, display: "none" });
  const engine = performance.now() - t1;
  if (!summary.ok) throw new Error("the benchmark run failed");

  const per = (engine - plain) / n;
  console.log(`combinations:            ${n}`);
  console.log(
    `plain loop of 'true':    ${plain.toFixed(0)} ms (${(plain / n).toFixed(2)} ms each)`,
  );
  console.log(
    `runExperiments:          ${engine.toFixed(0)} ms (${(engine / n).toFixed(2)} ms each)`,
  );
  console.log(`dexp overhead:           ${per.toFixed(2)} ms per combination (target < 10 ms)`);
  if (per >= 10) Deno.exitCode = 1;
} finally {
  await Deno.remove(results, { recursive: true });
}
