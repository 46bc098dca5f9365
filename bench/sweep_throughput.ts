// Claim+done pairs per second on one sweep directory, for 1 process and for 4 processes.
//
//   deno run -A bench/sweep_throughput.ts [--pairs 3000] [--dir DIR]
//
// Each pair is a claim and a completion, each one locked write with an fsync (next() then
// done()), or a single locked write for both when the async iterator moves on. --dir picks
// the file system to measure (default: a temporary directory).
import { parseArgs } from "node:util";
import { ParamSweeper, range, sweep } from "../src/sweep/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pairs: { type: "string", default: "3000" },
    dir: { type: "string" },
    worker: { type: "string" },
    mode: { type: "string", default: "pairs" },
    "blocking-lock": { type: "boolean", default: false },
  },
});
const pairs = Number(values.pairs);
const combos = () => sweep({ run: range(100_000), impl: ["a"] });

async function runPairs(
  s: ParamSweeper<Record<string, unknown>>,
  n: number,
  mode: string,
): Promise<number> {
  let k = 0;
  if (mode === "iterator") {
    for await (const _ of s) if (++k === n) break;
    return k;
  }
  for (; k < n; k++) {
    const c = await s.next();
    if (!c) break;
    await s.done(c);
  }
  return k;
}

if (values.worker) {
  // Child: open, say ready, wait for the go file, run, report.
  const s = await ParamSweeper.open(values.worker, combos(), {
    blockingLock: values["blocking-lock"],
  }) as ParamSweeper<Record<string, unknown>>;
  console.log("ready");
  while (!(await Deno.stat(`${values.worker}.go`).then(() => true, () => false))) {
    await new Promise((r) => setTimeout(r, 2));
  }
  const t0 = performance.timeOrigin + performance.now();
  const n = await runPairs(s, pairs, values.mode);
  const t1 = performance.timeOrigin + performance.now();
  await s.close();
  console.log(JSON.stringify({ n, t0, t1 }));
  Deno.exit(0);
}

const base = values.dir ?? await Deno.makeTempDir({ prefix: "dexp-bench-thr-" });
const rate = (n: number, ms: number) => Math.round(n / ms * 1000);
console.log(
  `Claim+done pairs per second, ${Deno.build.os}, deno ${Deno.version.deno}, dir ${base}`,
);
const modes = [["pairs", false], ["iterator", false], ["pairs", true], ["iterator", true]] as const;
const label = (mode: string, blocking: boolean) =>
  (mode === "pairs" ? "next() + done()" : "for await        ") +
  (blocking ? "  blockingLock" : "              ");
try {
  for (const [mode, blocking] of modes) {
    const dir = `${base}/one-${mode}-${blocking}`;
    const s = await ParamSweeper.open(dir, combos(), { blockingLock: blocking }) as ParamSweeper<
      Record<string, unknown>
    >;
    await runPairs(s, 200, mode); // warm up
    const t0 = performance.now();
    const n = await runPairs(s, pairs, mode);
    const ms = performance.now() - t0;
    await s.close();
    console.log(
      `1 process   ${label(mode, blocking)} ${String(rate(n, ms)).padStart(6)} pairs/s  (${
        (ms / n * 1000).toFixed(0)
      } us/pair)`,
    );
  }
  for (const [mode, blocking] of modes) {
    const dir = `${base}/four-${mode}-${blocking}`;
    await Deno.mkdir(dir, { recursive: true });
    await (await ParamSweeper.open(dir, combos())).close(); // create once, not in the race
    const children = Array.from({ length: 4 }, () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          import.meta.filename!,
          "--worker",
          dir,
          "--pairs",
          String(pairs / 4),
          "--mode",
          mode,
          ...(blocking ? ["--blocking-lock"] : []),
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn());
    const readers = children.map((c) => {
      const lines: string[] = [];
      let ready!: () => void;
      const isReady = new Promise<void>((r) => (ready = r));
      const done = (async () => {
        let rest = "";
        for await (const chunk of c.stdout.pipeThrough(new TextDecoderStream())) {
          const parts = (rest + chunk).split("\n");
          rest = parts.pop()!;
          for (const p of parts) {
            if (p === "ready") ready();
            else lines.push(p);
          }
        }
        await c.status;
        return lines;
      })();
      return { isReady, done };
    });
    const rs = await Promise.all(readers);
    await Promise.all(rs.map((r) => r.isReady));
    await Deno.writeTextFile(`${dir}.go`, "");
    const results = (await Promise.all(rs.map((r) => r.done))).map((l) =>
      JSON.parse(l[l.length - 1])
    );
    const n = results.reduce((a, r) => a + r.n, 0);
    const ms = Math.max(...results.map((r) => r.t1)) - Math.min(...results.map((r) => r.t0));
    console.log(
      `4 processes ${label(mode, blocking)} ${
        String(rate(n, ms)).padStart(6)
      } pairs/s  (all together)`,
    );
  }
} finally {
  if (!values.dir) await Deno.remove(base, { recursive: true });
}
