// Cost of one claim+done pair as the number of done combinations grows: it must stay flat.
//
//   deno run -A bench/sweep_flat.ts [--window 5000]
//
// Fills the sweep quickly with doneMany() in batches of 1,000, then times `window`
// next()+done() pairs when 1,000, 10,000, 50,000 and 100,000 combinations are done
// (compactions included, amortized).
import { parseArgs } from "node:util";
import { ParamSweeper, range, sweep } from "../src/sweep/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { window: { type: "string", default: "5000" } },
});
const window = Number(values.window);
const marks = [1_000, 10_000, 50_000, 100_000];
const dir = await Deno.makeTempDir({ prefix: "dexp-bench-flat-" });
try {
  const s = await ParamSweeper.open(dir, sweep({ i: range(200_000) }));
  console.log(
    `Per-pair cost (next() + done()) by number of done combinations, ${window} pairs each`,
  );
  let done = 0;
  for (const mark of marks) {
    while (done < mark) {
      const batch = await s.nextMany(Math.min(1000, mark - done));
      done += await s.doneMany(batch);
    }
    const compactions = s.compactions;
    const t0 = performance.now();
    for (let k = 0; k < window; k++) await s.done((await s.next())!);
    const us = (performance.now() - t0) / window * 1000;
    done += window;
    const journal = Deno.statSync(`${dir}/journal`).size;
    const snapshot = await Deno.stat(`${dir}/snapshot`).then((st) => st.size, () => 0);
    console.log(
      `${String(mark).padStart(7)} done: ${us.toFixed(0).padStart(4)} us/pair  (${
        (1e6 / us).toFixed(0)
      } pairs/s; ${s.compactions - compactions} compactions in the window; journal ${
        (journal / 1024).toFixed(0)
      } KiB, snapshot ${(snapshot / 1024).toFixed(0)} KiB)`,
    );
  }
  await s.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
