// Output at scale: lines split in linear time with a bounded length (cut lines marked),
// a byte order mark kept, and `dexp run` storing command output once, raw, chunk by chunk.
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { cmd } from "../mod.ts";
import { defineExperiment, type RunEvent, runExperiments } from "../src/engine/mod.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes, tempDir } from "./assert.ts";

const ROOT = resolve(import.meta.dirname!, "..");
const MOD = pathToFileURL(join(ROOT, "mod.ts")).href;
const MAIN = join(ROOT, "src", "cli", "main.ts");
const dec = new TextDecoder();

/** Runs `deno run -A` on a script (from the repository, so that its deno.json applies), with a small JS heap. */
async function runSmallHeap(heapMb: number, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      join(ROOT, "deno.json"),
      `--v8-flags=--max-old-space-size=${heapMb}`,
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

// 64 MiB of 'a' on one line, then a short line.
const HUGE_LINE = "head -c 67108864 /dev/zero | tr '\\000' a; echo; echo end";

Deno.test("a line handler on one 64 MiB line gets its first MiB, marked cut, within a 24 MB heap", async () => {
  await using tmp = await tempDir();
  const script = join(tmp.path, "huge.ts");
  await Deno.writeTextFile(
    script,
    `import { cmd } from ${JSON.stringify(MOD)};
const seen = [];
const r = await cmd(${JSON.stringify(HUGE_LINE)}).quiet()
  .onStdout((line, info) => seen.push([line.length, line[0], info.cut === true]));
console.log(JSON.stringify({ seen, bytes: r.stdoutBytes }));
`,
  );
  // Before: the splitter held (and rescanned) the whole line: out of memory.
  const r = await runSmallHeap(24, [script]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(JSON.parse(r.stdout), {
    seen: [[1024 * 1024, "a", true], [3, "e", false]],
    bytes: 64 * 1024 * 1024 + 5,
  });
});

Deno.test("maxLineBytes sets where lines are cut; the capture and files keep every byte", async () => {
  await using tmp = await tempDir();
  const seen: [string, boolean][] = [];
  const file = join(tmp.path, "out.txt");
  const r = await cmd("printf 'short\\n'; head -c 5000 /dev/zero | tr '\\000' b; printf '\\nlast'")
    .quiet()
    .maxLineBytes(100)
    .stdoutFile(file)
    .onStdout((line, info) => seen.push([line, info.cut === true]));
  assertEquals(seen, [["short", false], ["b".repeat(100), true], ["last", false]]);
  assertEquals(r.stdoutBytes, 6 + 5000 + 5);
  assertEquals((await Deno.stat(file)).size, 6 + 5000 + 5);
  assertEquals(r.stdout.length, 6 + 5000 + 5);
  let error: unknown;
  try {
    cmd("true").maxLineBytes(0);
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError, String(error));
  assertEquals(error.message, "'maxLineBytes' must be a positive integer: received 0");
});

Deno.test("a leading byte order mark is kept by text(), lines(), result.stdout and line handlers", async () => {
  const bom = "printf '\\357\\273\\277first\\nsecond\\n'";
  assertEquals(await cmd(bom).text(), "\uFEFFfirst\nsecond");
  assertEquals(await cmd(bom).lines(), ["\uFEFFfirst", "second"]);
  const seen: string[] = [];
  const r = await cmd(bom).quiet().onStdout((l) => seen.push(l));
  assertEquals(r.stdout, "\uFEFFfirst\nsecond\n");
  assertEquals(seen, ["\uFEFFfirst", "second"]);
  // expect() sees it too (its lines are made from the capture).
  const p = cmd(`${bom}; sleep 0.2`).quiet().spawn();
  assertEquals((await p.expect("first")).line, "\uFEFFfirst");
  await p;
});

Deno.test("dexp run stores command output once, raw, in the combination's log; the run log keeps events", async () => {
  await using tmp = await tempDir();
  const n = 20_000;
  const events: RunEvent[] = [];
  const e = defineExperiment("short", { params: { k: ["x"] } }, async (ctx) => {
    ctx.log("before");
    await ctx.spawn(cmd(["seq", "1", String(n)]));
    ctx.log("after");
  });
  const s = await runExperiments([e], {
    results: tmp.path,
    display: "none",
    listeners: [(ev) => events.push(ev)],
  });
  assert(s.ok);
  const { runDir } = s.experiments[0];
  const seq = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");
  const clog = await Deno.readTextFile(join(runDir, "k=x", "log.txt"));
  // One header, then the bytes exactly as the command wrote them: no per-line decoration.
  const stampRe = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
  assertMatch(
    clog,
    new RegExp(
      `^${stampRe} start \\(attempt 1\\)\\n${stampRe} before\\n${stampRe} \\[local\\] stdout:\\n` +
        `1\\n2\\n(\\d+\\n)*${n}\\n${stampRe} after\\n${stampRe} ok in \\S+ \\(attempt 1\\)\\n$`,
    ),
  );
  assertStringIncludes(clog, `stdout:\n${seq}`);
  assertEquals(clog.split("\n").length, n + 6);
  // The run's log has events and ctx.log lines, not the output.
  const runLog = await Deno.readTextFile(join(runDir, "log.txt"));
  assertStringIncludes(runLog, "[k=x] before");
  assertStringIncludes(runLog, "[k=x] after");
  assert(!runLog.includes("[local]"), runLog);
  assert(runLog.split("\n").length < 20, runLog);
  // Listeners (and the display) get a sample per chunk of output, not an event per line.
  const samples = events.filter((ev) => ev.type === "output" && ev.sampled);
  const logged = events.filter((ev) => ev.type === "output" && !ev.sampled);
  assertEquals(logged.map((ev) => ev.type === "output" && ev.line), ["before", "after"]);
  assert(samples.length >= 1 && samples.length <= n / 50, `${samples.length} samples`);
  const last = samples.at(-1)!;
  assertEquals(last.type === "output" && last.line, `[local] ${n}`);
});

Deno.test("output of concurrent commands of a combination mixes only at line ends; dexp log shows it", async () => {
  await using tmp = await tempDir();
  const n = 5000;
  // Each process writes its lines in pieces that do not end at line ends.
  const writer = (tag: string) =>
    cmd([
      Deno.execPath(),
      "eval",
      `const e = new TextEncoder(); let s = "";
for (let i = 0; i < ${n}; i++) s += "${tag}-" + i + " " + "x".repeat(i % 50) + "\\n";
const b = e.encode(s);
for (let i = 0; i < b.length; i += 997) { Deno.stdout.writeSync(b.subarray(i, i + 997)); }
Deno.stderr.writeSync(e.encode("${tag} err without newline"));`,
    ]);
  const e = defineExperiment("mix", { params: { k: ["y"] } }, async (ctx) => {
    await Promise.all([ctx.spawn(writer("A")), ctx.spawn(writer("B"))]);
    ctx.log("done");
  });
  const s = await runExperiments([e], { results: tmp.path, display: "none" });
  assert(s.ok);
  const { runDir } = s.experiments[0];
  const clog = await Deno.readTextFile(join(runDir, "k=y", "log.txt"));
  const counts = { A: 0, B: 0 };
  for (const line of clog.split("\n")) {
    if (
      line === "" || / \[local\] std(out|err):$/.test(line) || / (start|done|ok in)\b/.test(line)
    ) {
      continue;
    }
    const m = line.match(/^([AB])-(\d+) (x*)$|^([AB]) err without newline$/);
    assert(m, `a line of the log was mixed: ${JSON.stringify(line.slice(0, 200))}`);
    if (m[1]) {
      assertEquals(m[3].length, Number(m[2]) % 50);
      counts[m[1] as "A" | "B"]++;
    }
  }
  assertEquals(counts, { A: n, B: n });

  const log = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "log", runDir, "k=y"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(log.code, 0, dec.decode(log.stderr));
  assertEquals(dec.decode(log.stdout), clog);
});

Deno.test("dexp run of a command printing one 64 MiB line stays within a 48 MB heap", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "huge_exp.ts");
  await Deno.writeTextFile(
    file,
    `import { experiment } from ${JSON.stringify(MOD)};
experiment("huge", { params: { k: ["z"] } }, async (ctx) => {
  await ctx.spawn(${JSON.stringify(HUGE_LINE)});
});
`,
  );
  const results = join(tmp.path, "res");
  // Before: every line became a decorated string in two logs and an event: out of memory.
  const r = await runSmallHeap(48, [MAIN, "run", "--no-progress", "-r", results, file]);
  assertEquals(r.code, 0, r.stderr);
  const [run] = [...Deno.readDirSync(join(results, "huge"))].filter((e) => e.isDirectory);
  const clog = join(results, "huge", run.name, "k=z", "log.txt");
  const size = (await Deno.stat(clog)).size;
  // The output once (64 MiB + 5 bytes) and a few short lines around it.
  assert(size > 64 * 1024 * 1024 && size < 64 * 1024 * 1024 + 1000, `${size} bytes`);
  using f = await Deno.open(clog);
  await f.seek(-200, Deno.SeekMode.End);
  const end = new Uint8Array(200);
  const got = (await f.read(end))!;
  assertMatch(dec.decode(end.subarray(0, got)), /a{20}\nend\n.* ok in \S+ \(attempt 1\)\n$/);
});
