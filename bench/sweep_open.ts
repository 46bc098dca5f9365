// Opening and counting a 1,000,000-combination sweep: time and peak memory (VmHWM).
//
//   deno run -A bench/sweep_open.ts [--combinations 1000000]
//
// Each phase runs in a fresh process: "create" opens a new directory (and writes the list of
// combinations), "reopen" opens it again as a continued run does.
import { parseArgs } from "node:util";
import { ParamSweeper, range, sweep } from "../src/sweep/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    combinations: { type: "string", default: "1000000" },
    child: { type: "string" },
    dir: { type: "string" },
  },
});
const side = Math.round(Math.cbrt(Number(values.combinations)));

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) / 1024 : NaN;
}

if (values.child) {
  const t0 = performance.now();
  // side^3 combinations; the fastest parameter is a string so identities look realistic.
  const s = sweep({ a: range(side), b: range(side), impl: range(side).map((i) => `impl-${i}`) });
  const count = s.count();
  const tCount = performance.now() - t0;
  const sw = await ParamSweeper.open(values.dir!, s);
  const stats = await sw.stats();
  const tOpen = performance.now() - t0;
  await sw.close();
  console.log(JSON.stringify({ count, total: stats.total, tCount, tOpen, rss: peakRssMb() }));
  Deno.exit(0);
}

const dir = await Deno.makeTempDir({ prefix: "dexp-bench-open-" });
try {
  console.log(
    `Open + stats of ${
      side ** 3
    } combinations (${side}^3), ${Deno.build.os}, deno ${Deno.version.deno}`,
  );
  for (const phase of ["create", "reopen"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        "--child",
        phase,
        "--dir",
        dir,
        "--combinations",
        String(side ** 3),
      ],
      stderr: "inherit",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    console.log(
      `${phase.padEnd(7)} count() ${r.tCount.toFixed(0)} ms   open+stats ${
        r.tOpen.toFixed(0)
      } ms   peak RSS ${r.rss.toFixed(0)} MB   (${r.total} combinations)`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
