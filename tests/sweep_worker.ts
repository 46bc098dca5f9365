// A worker for the multi-process sweep tests: claims combinations of sweep({ i: range(N) })
// in DIR until none is left, printing "done I" after each completion that was recorded
// and "stale I" after one that was refused.
//
//   deno run -A tests/sweep_worker.ts DIR N [--compact BYTES] [--work-ms MS] [--batch K] [--hold]
//
// With --hold it claims one combination, prints "holding I" and then waits to be killed.
import { parseArgs } from "node:util";
import { ParamSweeper, range, sweep } from "../src/sweep/mod.ts";

// Only when run as a script: `deno test tests/sweep_*` imports this file too.
if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      compact: { type: "string", default: String(1 << 30) },
      "work-ms": { type: "string", default: "0" },
      batch: { type: "string", default: "1" },
      hold: { type: "boolean", default: false },
    },
  });
  const [dir, n] = positionals;
  const workMs = Number(values["work-ms"]);
  const batch = Number(values.batch);
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));

  const sweeper = await ParamSweeper.open(dir, sweep({ i: range(Number(n)) }), {
    compactBytes: Number(values.compact),
  });
  if (values.hold) {
    const c = await sweeper.next();
    out(`holding ${c?.i}`);
    setInterval(() => {}, 1 << 30); // until killed
  }
  for (; !values.hold;) {
    const claimed = batch === 1
      ? [await sweeper.next()].filter((c) => c !== null)
      : await sweeper.nextMany(batch);
    if (claimed.length === 0) break;
    for (const c of claimed) {
      if (workMs > 0) await new Promise((r) => setTimeout(r, Math.random() * workMs));
      out(`${(await sweeper.done(c)) ? "done" : "stale"} ${c.i}`);
    }
  }
  if (!values.hold) {
    await sweeper.close();
    out("exit");
  }
}
