/**
 * Load generators on a tagged subset of the hosts: start `yes > /dev/null` on the hosts
 * tagged `load`, let it run 3 s, kill it everywhere, and check nothing is left.
 *
 * The hosts here are local slots (this example needs no ssh); with remote hosts write
 * `hosts(...)` with tags and `ctx.hosts.tagged("load")` instead of the `where()` below.
 *
 * Run it with `deno task dexp run examples/yes_kill.ts`.
 *
 * @module
 */

import { local } from "../mod.ts";
import { experiment, runExperiments } from "../src/engine/mod.ts";

// Slots 0 and 2 play the hosts tagged "load".
const LOAD = new Set(["local[0]", "local[2]"]);

export const yesKill = experiment(
  "yes_kill",
  { hosts: local(4), params: { seconds: [3] }, tags: ["example", "load"], timeout: 60_000 },
  async (ctx, p) => {
    const loaded = ctx.hosts.where((h) => LOAD.has(h.label));
    ctx.log(`starting yes on ${loaded.targets.map((h) => h.label).join(", ")}`);
    const yes = ctx.run(loaded.run("yes > /dev/null"));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, (p.seconds as number) * 1000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
    await yes.kill();
    const r = await yes.result();
    const killed = r.failed.map((x: { target: string }) => x.target);
    ctx.log(`killed yes on ${killed.join(", ")} after ${p.seconds} s`);
    await ctx.writeJson("killed.json", killed);
  },
);

if (import.meta.main) {
  const summary = await runExperiments([yesKill]);
  Deno.exit(summary.ok ? 0 : 1);
}
