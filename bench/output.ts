/**
 * Benchmark: output at scale. One 100 MiB line and 100 MiB of short lines, (a) through a line
 * handler on `cmd(...)` and (b) through `dexp run` (an experiment whose combination runs
 * `cat FILE` with `ctx.spawn`), each next to `cat FILE > out` measured in the same run. Every
 * case is a fresh process; wall time and peak RSS (from `/usr/bin/time -f %M` when it is
 * installed, else from the kernel's `/proc/PID/status` polled until the process exits) are
 * reported, median of the rounds (every round runs each case once, so ratios are taken within a
 * round), with `cat FILE | cat > out` (the same pipe dexp reads) and
 * the start-up time of each program with no output, which the "net" ratio takes away.
 * Targets: 100 MiB of short lines through `dexp run` within 2x of `cat > file`, peak RSS
 * under 200 MB.
 *
 *   deno run -A bench/output.ts [ROUNDS]      (deno task bench:output)
 *
 * @module
 */

import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname!, "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const MOD = pathToFileURL(join(ROOT, "mod.ts")).href;
const SIZE = 100 * 1024 * 1024;
const rounds = Number(Deno.args[0] ?? 3);
const TIME = "/usr/bin/time";
const haveTime = await Deno.stat(TIME).then(() => true, () => false);

interface Sample {
  ms: number;
  rssKb: number;
}

/** Runs argv once; wall time and the peak RSS of the process (and its children, for time -v). */
async function measure(argv: string[], env: Record<string, string> = {}): Promise<Sample> {
  const out = await Deno.makeTempFile({ prefix: "dexp-bench-time-" });
  try {
    const full = haveTime ? [TIME, "-f", "%M", "-o", out, ...argv] : argv;
    const t0 = performance.now();
    const child = new Deno.Command(full[0], {
      args: full.slice(1),
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let hwm = 0;
    let polling = !haveTime;
    const poll = (async () => {
      while (polling) {
        try {
          const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
          const kb = Number(status.match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? 0);
          if (kb > hwm) hwm = kb;
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const { code, stderr } = await child.output();
    const ms = performance.now() - t0;
    polling = false;
    await poll;
    if (code !== 0) {
      throw new Error(`'${argv.join(" ")}' failed (${code}): ${new TextDecoder().decode(stderr)}`);
    }
    const rssKb = haveTime ? Number((await Deno.readTextFile(out)).trim().split("\n").at(-1)) : hwm;
    return { ms, rssKb };
  } finally {
    await Deno.remove(out);
  }
}

const dir = await Deno.makeTempDir({ prefix: "dexp-bench-output-" });
try {
  // The inputs: one line of SIZE bytes, and SIZE bytes of 24-byte lines.
  const long = join(dir, "long.txt");
  const short = join(dir, "short.txt");
  {
    using f = await Deno.open(long, { write: true, create: true });
    const block = new Uint8Array(1024 * 1024).fill(97);
    for (let i = 0; i < SIZE / block.length; i++) f.writeSync(block);
    f.writeSync(new TextEncoder().encode("\n"));
  }
  {
    using f = await Deno.open(short, { write: true, create: true });
    let text = "";
    for (let i = 0; i < 1024 * 1024 / 32; i++) {
      text += `line ${String(i).padStart(10, "0")} of output ok\n`; // 32 bytes
    }
    const block = new TextEncoder().encode(text);
    for (let i = 0; i < SIZE / block.length; i++) f.writeSync(block);
  }

  const handler = join(dir, "handler.ts");
  await Deno.writeTextFile(
    handler,
    `import { cmd } from ${JSON.stringify(MOD)};
let lines = 0;
let bytes = 0;
await cmd(["cat", Deno.args[0]]).quiet().onStdout((l) => {
  lines++;
  bytes += l.length;
});
if (lines > 0 && bytes === 0) throw new Error("lines without bytes");
`,
  );
  const exp = join(dir, "exp.ts");
  await Deno.writeTextFile(
    exp,
    `import { cmd, experiment } from ${JSON.stringify(MOD)};
experiment("output", { params: { file: [Deno.env.get("BENCH_FILE")!] } }, async (ctx, p) => {
  await ctx.spawn(cmd(["cat", String(p.file)]));
});
`,
  );
  const deno = [Deno.execPath(), "run", "-A", "--config", join(ROOT, "deno.json")];
  const results = join(dir, "results");
  const dexpRun = [...deno, MAIN, "run", "--no-progress", "-r", results, exp];
  // What each program costs with no output at all (Deno start, module load, run folder): the
  // "net" ratios take it away.
  const emptyFile = join(dir, "empty.txt");
  await Deno.writeTextFile(emptyFile, "");
  const out = join(dir, "out");

  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows: string[][] = [];
  const fmt = (xs: Sample[]) => [
    `${mid(xs.map((x) => x.ms)).toFixed(0)} ms`,
    `${(mid(xs.map((x) => x.rssKb)) / 1024).toFixed(0)} MB`,
  ];
  // Ratios per round (the cases of a round run one after the other, under the same load).
  const ratios = (xs: Sample[], floor: Sample[], start?: Sample[]) => [
    `${mid(xs.map((x, r) => x.ms / floor[r].ms)).toFixed(2)}x`,
    start ? `${mid(xs.map((x, r) => (x.ms - start[r].ms) / floor[r].ms)).toFixed(2)}x` : "",
  ];
  let shortRun: { gross: number; net: number; rssMb: number } | undefined;
  const starts = { handler: [] as Sample[], run: [] as Sample[] };
  for (const [what, file] of [["one 100 MiB line", long], ["100 MiB of 32-byte lines", short]]) {
    const s = {
      floor: [] as Sample[],
      piped: [] as Sample[],
      handler: [] as Sample[],
      handlerEmpty: [] as Sample[],
      run: [] as Sample[],
      runEmpty: [] as Sample[],
    };
    for (let r = 0; r < rounds; r++) {
      s.floor.push(await measure(["sh", "-c", `cat '${file}' > '${out}'`]));
      s.piped.push(await measure(["sh", "-c", `cat '${file}' | cat > '${out}'`]));
      s.handler.push(await measure([...deno, handler, file]));
      s.handlerEmpty.push(await measure([...deno, handler, emptyFile]));
      s.run.push(await measure(dexpRun, { BENCH_FILE: file }));
      s.runEmpty.push(await measure(dexpRun, { BENCH_FILE: emptyFile }));
      await Deno.remove(results, { recursive: true });
    }
    starts.handler.push(...s.handlerEmpty);
    starts.run.push(...s.runEmpty);
    rows.push([`${what}: \`cat FILE > out\``, ...fmt(s.floor), "1.00x", ""]);
    rows.push([
      `${what}: \`cat FILE \\| cat > out\``,
      ...fmt(s.piped),
      ...ratios(s.piped, s.floor),
    ]);
    rows.push([
      `${what}: line handler on \`cmd(["cat", FILE])\``,
      ...fmt(s.handler),
      ...ratios(s.handler, s.floor, s.handlerEmpty),
    ]);
    rows.push([
      `${what}: \`dexp run\`, \`ctx.spawn(cmd(["cat", FILE]))\``,
      ...fmt(s.run),
      ...ratios(s.run, s.floor, s.runEmpty),
    ]);
    if (file === short) {
      shortRun = {
        gross: mid(s.run.map((x, r) => x.ms / s.floor[r].ms)),
        net: mid(s.run.map((x, r) => (x.ms - s.runEmpty[r].ms) / s.floor[r].ms)),
        rssMb: mid(s.run.map((x) => x.rssKb)) / 1024,
      };
    }
  }
  rows.push(["no output: `dexp run` (start-up, taken away in net)", ...fmt(starts.run), "", ""]);
  rows.push(["no output: line handler script (start-up)", ...fmt(starts.handler), "", ""]);

  const head = ["case", "wall time", "peak RSS", "vs cat", "net of start-up"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(
    `rounds: ${rounds} (medians; ratios within a round), peak RSS from ${
      haveTime ? TIME + " -f %M" : "VmHWM"
    }`,
  );
  console.log(line(head));
  console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
  for (const r of rows) console.log(line(r));
  if (shortRun) {
    const ok = shortRun.net <= 2 && shortRun.rssMb < 200;
    console.log(
      `target (short lines through dexp run within 2x of cat, under 200 MB): ${
        ok ? "met" : "NOT met"
      } net of start-up (${shortRun.net.toFixed(2)}x; ${
        shortRun.gross.toFixed(2)
      }x with start-up; ${shortRun.rssMb.toFixed(0)} MB)`,
    );
    if (!ok) Deno.exitCode = 1;
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
