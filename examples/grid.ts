/**
 * A grid over `a`, `b` and `to_file` (distexprunner's classic example): each combination
 * runs a command whose output goes to a result file when `to_file` is true, else to the
 * console (and the combination's log).
 *
 * Run it with `deno task dexp run examples/grid.ts` (or `deno run -A examples/grid.ts`).
 *
 * @module
 */

import { experiment, runExperiments } from "../src/engine/mod.ts";
import { sh } from "../mod.ts";

export const grid = experiment(
  "grid",
  { params: { a: [1, 2], b: [3, 4], to_file: [true, false] }, tags: ["example"] },
  async (ctx, p) => {
    const line = sh`echo a=${p.a} b=${p.b} product=$((${p.a} * ${p.b}))`;
    if (p.to_file) {
      const r = await ctx.hosts.run(line).quiet();
      await ctx.writeFile("out.txt", r.text().join("\n") + "\n");
      ctx.log(`wrote ${ctx.path("out.txt")}`);
    } else {
      await ctx.spawn(line);
    }
  },
);

if (import.meta.main) {
  const summary = await runExperiments([grid]);
  Deno.exit(summary.ok ? 0 : 1);
}
