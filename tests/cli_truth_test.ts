// The dexp command tells the truth about runs: status of a killed run, report and log during
// a run, parameterless experiments, hosts() errors, type errors in experiment files.
import { join, resolve } from "node:path";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  tempDir,
  waitFor,
} from "./assert.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const ENGINE = resolve(import.meta.dirname!, "../src/engine/mod.ts");
const dec = new TextDecoder();

function dexp(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(args: string[]) {
  const out = await dexp(args).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

// A safety net, never the thing asserted.
// An experiment over i = 0, 1, 2 where i = 1 waits for a file 'release'.
async function slowFixture(dir: string): Promise<string> {
  const path = join(dir, "slow.ts");
  await Deno.writeTextFile(
    path,
    `import { experiment } from ${JSON.stringify(ENGINE)};
const dir = ${JSON.stringify(dir)};
experiment("slow", { params: { i: [0, 1, 2] } }, async (ctx, p) => {
  await Deno.writeTextFile(dir + "/started-" + p.i, "");
  ctx.log("working on " + p.i);
  if (p.i !== 1) return;
  for (;;) {
    try {
      await Deno.stat(dir + "/release");
      return;
    } catch {
      if (ctx.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});
`,
  );
  return path;
}

async function onlyRun(results: string, experiment: string): Promise<string> {
  const ids: string[] = [];
  for await (const e of Deno.readDir(join(results, experiment))) {
    if (e.isDirectory) ids.push(e.name);
  }
  assertEquals(ids.length, 1, ids.join(", "));
  return join(results, experiment, ids[0]);
}

// Reads a stream until `text` has appeared; returns the reader's text so far.
async function until(stream: ReadableStream<Uint8Array>, text: string): Promise<string> {
  const reader = stream.getReader();
  let got = "";
  try {
    while (!got.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before ${JSON.stringify(text)}: ${got}`);
      got += dec.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return got;
}

Deno.test("report lists every combination with its parameters and state during a run", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const fixture = await slowFixture(tmp.path);
  const child = dexp(["run", "--no-progress", "-r", results, fixture]).spawn();
  try {
    await waitFor("i=1 to start", () => exists(join(tmp.path, "started-1")));
    // An experiment folder means its latest run, for report as for log.
    const report = await run(["report", "--json", join(results, "slow")]);
    assertEquals(report.code, 0, report.stderr);
    const rows = JSON.parse(report.stdout);
    assertEquals(rows.map((r: Record<string, unknown>) => [r.i, r.state]), [
      [0, "done"],
      [1, "running"],
      [2, "pending"],
    ]);
    const text = await run(["report", join(results, "slow")]);
    assertMatch(
      text.stdout,
      /^i\s+state\s+attempts\s+duration_ms\n0\s+done\s+1\s+\d+\n1\s+running\s+0\n2\s+pending\s+0\n?$/,
    );
  } finally {
    await Deno.writeTextFile(join(tmp.path, "release"), "");
    const r = await child.output();
    assertEquals(r.code, 0, dec.decode(r.stderr));
  }
});

Deno.test("log takes an experiment folder, and -f waits for a combination not started", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const fixture = await slowFixture(tmp.path);
  const child = dexp(["run", "--no-progress", "-r", results, fixture]).spawn();
  try {
    await waitFor("i=1 to start", () => exists(join(tmp.path, "started-1")));
    // Following a combination that has not started waits for it instead of failing.
    const follow = dexp(["log", "-f", join(results, "slow"), "i=2"]).spawn();
    const stdout = follow.stdout;
    await until(follow.stderr, "waiting for 'i=2' to start");
    await Deno.writeTextFile(join(tmp.path, "release"), "");
    const out = await new Response(stdout).text();
    const st = await follow.status;
    await follow.stderr.cancel();
    assertEquals(st.code, 0);
    assertStringIncludes(out, "working on 2");
    assertMatch(out, /ok in \S+ \(attempt 1\)/);
  } finally {
    await Deno.writeTextFile(join(tmp.path, "release"), "");
    const r = await child.output();
    assertEquals(r.code, 0, dec.decode(r.stderr));
  }
  const runDir = await onlyRun(results, "slow");
  const log = await run(["log", join(results, "slow")]);
  assertEquals(log.code, 0, log.stderr);
  assertStringIncludes(log.stdout, "experiment slow: 3 ok, 0 failed, 0 remaining");
  // A combination that is not in the run is an error, with or without -f.
  const nope = await run(["log", "-f", runDir, "i=9"]);
  assertEquals(nope.code, 2);
  assertStringIncludes(nope.stderr, "No log for combination 'i=9'");
});

Deno.test("status shows a SIGKILLed run as interrupted, not running forever", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const fixture = await slowFixture(tmp.path);
  const child = dexp(["run", "--no-progress", "-r", results, fixture]).spawn();
  await waitFor("i=1 to start", () => exists(join(tmp.path, "started-1")));
  const alive = JSON.parse((await run(["status", "--json", results])).stdout);
  assertEquals(alive.map((r: Record<string, unknown>) => r.state), ["running"]);
  child.kill("SIGKILL");
  const r = await child.output();
  assertEquals(r.signal, "SIGKILL");
  const dead = await run(["status", "--json", results]);
  const runs = JSON.parse(dead.stdout);
  assertEquals(runs.map((x: Record<string, unknown>) => [x.state, x.recorded, x.succeeded]), [[
    "interrupted",
    "running",
    1,
  ]]);
  const text = await run(["status", results]);
  assertMatch(text.stdout, /slow\s+\S+\s+interrupted\s+1\s+0\s+2\s+3/);
  // The killed combination is pending again in the report (its runner is gone).
  const rows = JSON.parse((await run(["report", "--json", join(results, "slow")])).stdout);
  assertEquals(rows.map((x: Record<string, unknown>) => x.state), ["done", "pending", "pending"]);
  // 'dexp log -f' of the dead run ends instead of following for ever.
  const log = await run(["log", "-f", join(results, "slow")]);
  assertEquals(log.code, 0, log.stderr);
  assertStringIncludes(log.stdout, "[i=1] working on 1");
});

Deno.test("an experiment without parameters: id 'ls', folder 'default'", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "ls.ts");
  await Deno.writeTextFile(
    path,
    `import { experiment } from ${JSON.stringify(ENGINE)};
experiment("ls", {}, async (ctx) => {
  await ctx.spawn("true");
});
`,
  );
  const plan = await run(["run", "-n", path]);
  assertEquals([plan.code, plan.stdout], [0, "ls\n"], plan.stderr);
  const json = JSON.parse((await run(["run", "-n", "--json", path])).stdout);
  assertEquals(json.map((p: Record<string, unknown>) => [p.id, p.name]), [["ls", "default"]]);
  const results = join(tmp.path, "res");
  const r = await run(["run", "--no-progress", "-r", results, path]);
  assertEquals(r.code, 0, r.stderr);
  const runDir = await onlyRun(results, "ls");
  assert(await exists(join(runDir, "default", "result.json")));
  assert(!(await exists(join(runDir, "_"))));
});

Deno.test("a hosts() that throws is a bad experiment file: a clear error naming it, exit 2", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "hostless.ts");
  await Deno.writeTextFile(
    path,
    `import { experiment } from ${JSON.stringify(ENGINE)};
import type { Group } from ${
      JSON.stringify(resolve(import.meta.dirname!, "../src/action/group.ts"))
    };
experiment("hostless", {
  hosts: (): Group => {
    throw new Error("no allocation");
  },
}, () => {});
`,
  );
  const r = await run(["run", "--no-progress", "-r", join(tmp.path, "res"), path]);
  assertEquals(r.code, 2, r.stderr);
  assertStringIncludes(
    r.stderr,
    "dexp run: 'hosts' of experiment 'hostless' threw: no allocation: fix the hosts function",
  );
  assert(!/^\s+at /m.test(r.stderr), r.stderr);
});

Deno.test("dexp run type-checks experiment files first; --no-check turns it off", async () => {
  await using tmp = await tempDir();
  const method = join(tmp.path, "method.ts");
  await Deno.writeTextFile(
    method,
    `import { experiment } from ${JSON.stringify(ENGINE)};
experiment("method", { params: { size: [1, 2] } }, async (ctx, p) => {
  await ctx.rnu("echo " + p.size);
});
`,
  );
  const param = join(tmp.path, "param.ts");
  await Deno.writeTextFile(
    param,
    `import { experiment } from ${JSON.stringify(ENGINE)};
experiment("param", { params: { size: [1, 2] } }, async (ctx, p) => {
  await ctx.spawn("echo " + p.sise);
});
`,
  );
  const results = join(tmp.path, "res");
  for (const [file, typo] of [[method, "rnu"], [param, "sise"]]) {
    const r = await run(["run", "--no-progress", "-r", results, file]);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, "dexp run: Experiment files do not type-check");
    assertStringIncludes(r.stderr, typo);
    assert(!(await exists(results)), "nothing ran");
  }
  const dry = await run(["run", "-n", method]);
  assertEquals(dry.code, 2, dry.stderr);
  // Unchecked, the typo surfaces only when a combination runs.
  const unchecked = await run(["run", "--no-check", "--no-progress", "-r", results, method]);
  assertEquals(unchecked.code, 1, unchecked.stderr);
  assertStringIncludes(unchecked.stdout, "ctx.rnu is not a function");
});
