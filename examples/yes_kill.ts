/**
 * Load generators on a tagged subset of the hosts: start `yes > /dev/null` on the hosts
 * tagged `load`, let it run, kill it everywhere, and record where it was killed.
 *
 *   DEXP_HOSTS=hosts.txt deno task dexp run examples/yes_kill.ts   your hosts; tag some `load`
 *   deno task dexp run examples/yes_kill.ts                         4 local slots, 0 and 2 loaded
 *
 * @module
 */

import {
  defineExperiment,
  type Experiment,
  experiment,
  type Group,
  Hosts,
  hostsFromFile,
  local,
  runExperiments,
} from "../mod.ts";

// Without a host file, local slots 0 and 2 play the hosts tagged "load".
const LOCAL_LOAD = new Set(["local[0]", "local[2]"]);

function loaded(group: Group): Group {
  return group instanceof Hosts
    ? group.tagged("load")
    : group.where((t) => LOCAL_LOAD.has(t.label));
}

/**
 * The experiment over a group of hosts (those tagged `load` get the load).
 *
 * @param nodes The hosts, or local slots.
 * @param options `seconds` of load (default 3); `register` it for `dexp run`.
 * @returns The experiment.
 */
export function yesKillOn(
  nodes: Group,
  options: { seconds?: number; register?: boolean } = {},
): Experiment {
  const define = options.register ? experiment : defineExperiment;
  return define(
    "yes_kill",
    { hosts: nodes, params: { seconds: [options.seconds ?? 3] }, tags: ["example", "load"] },
    async (ctx, p) => {
      const targets = loaded(ctx.hosts);
      ctx.log(`starting yes on ${targets.targets.map((h) => h.label).join(", ")}`);
      const yes = ctx.spawn(targets.run("yes > /dev/null"));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, p.seconds * 1000);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      await yes.kill();
      const r = await yes.result();
      const killed = r.results.filter((x) => x.killed).map((x) => x.target);
      ctx.log(`killed yes on ${killed.join(", ")} after ${p.seconds} s`);
      await ctx.writeJson("killed.json", killed);
    },
  );
}

const hostFile = Deno.env.get("DEXP_HOSTS");
/** The registered experiment: over `DEXP_HOSTS` if set, else 4 local slots. */
export const yesKill: Experiment = yesKillOn(
  hostFile ? await hostsFromFile(hostFile) : local(4),
  { register: true },
);

if (import.meta.main) {
  const summary = await runExperiments([yesKill]);
  Deno.exit(summary.ok ? 0 : 1);
}
