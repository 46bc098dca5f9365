/**
 * 1000 local `true` processes, 2 at a time: dexp against `xargs -P2` in the same run.
 *
 *   deno run -A bench/local_spawn.ts [N] [ROUNDS]
 *
 * Prints the median of each over the rounds (alternating, so both see the same machine).
 */
import { local } from "../mod.ts";

const n = Number(Deno.args[0] ?? 1000);
const rounds = Number(Deno.args[1] ?? 5);

async function timeIt(fn: () => PromiseLike<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const xargs = () =>
  new Deno.Command("sh", { args: ["-c", `seq ${n} | xargs -P2 -n1 true`] }).output();
const group = local(n).run(["true"]).concurrency(2).quiet();
const shellGroup = local(n).run("true").concurrency(2).quiet();

const results: Record<string, number[]> = { xargs: [], dexpArgv: [], dexpShell: [] };
await group; // warm up
for (let r = 0; r < rounds; r++) {
  results.xargs.push(await timeIt(xargs));
  results.dexpArgv.push(await timeIt(() => group));
  results.dexpShell.push(await timeIt(() => shellGroup));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const x = median(results.xargs);
const a = median(results.dexpArgv);
const s = median(results.dexpShell);
console.log(`${n} local 'true', concurrency 2, median of ${rounds} rounds:`);
console.log(`  xargs -P2 -n1 true            ${x.toFixed(0)} ms`);
console.log(`  dexp local(n).run(["true"])   ${a.toFixed(0)} ms  (${(a / x).toFixed(2)}x xargs)`);
console.log(
  `  dexp local(n).run("true")     ${s.toFixed(0)} ms  (${
    (s / x).toFixed(2)
  }x xargs, via /bin/sh -c)`,
);
