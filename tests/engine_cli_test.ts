// The dexp command as users run it: help, errors and exit codes, interrupted runs (SIGINT,
// SIGKILL) resumed to completion, two concurrent resumers sharing a results folder.
import { join, resolve } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const FIX = resolve(import.meta.dirname!, "engine_fixtures");

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "dexp-cli-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function dexp(args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await dexp(args, env).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 50));
}

Deno.test("help, version, per-verb help and usage errors with exit code 2", async () => {
  const help = await run(["--help"]);
  assertEquals(help.code, 0);
  for (const v of ["run", "status", "report", "log"]) {
    assertMatch(help.stdout, new RegExp(`^  ${v} `, "m"));
  }
  const version = await run(["--version"]);
  assertEquals([version.code, version.stdout.trim()], [0, "dexp 0.1.0"]);
  const deno = JSON.parse(await Deno.readTextFile(resolve(import.meta.dirname!, "../deno.json")));
  assertEquals(version.stdout.trim(), `dexp ${deno.version}`);
  for (const v of ["run", "status", "report", "log"]) {
    const h = await run([v, "--help"]);
    assertEquals(h.code, 0);
    assertMatch(h.stdout, new RegExp(`^Usage: dexp ${v} `));
    assertStringIncludes(h.stdout, "Exit status");
  }
  const unknown = await run(["frobnicate"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, "unknown verb 'frobnicate'");
  const missing = await run(["run", "no/such/file.ts"]);
  assertEquals(missing.code, 2);
  assertStringIncludes(missing.stderr, "No such file or folder: 'no/such/file.ts'");
  const throws = await run(["run", join(FIX, "bad", "throws.ts")]);
  assertEquals(throws.code, 2);
  assertMatch(throws.stderr, /Experiment file '.*throws\.ts' failed to load: boom at import/);
  const badOpt = await run(["run", "--parallel", "0", join(FIX, "flaky.ts")]);
  assertEquals(badOpt.code, 2);
  assertStringIncludes(badOpt.stderr, "'--parallel' must be a positive integer: received '0'");
});

Deno.test("dry-run lists folders recursively in order, filtered by name or tag, as text or JSON", async () => {
  const all = await run(["run", "--dry-run", join(FIX, "dir"), join(FIX, "flaky.ts")]);
  assertEquals(all.code, 0, all.stderr);
  assertEquals(all.stdout.trim().split("\n"), [
    "dir-a",
    "dir-a2",
    "dir-b__x=1",
    "dir-b__x=2",
    "flaky__k=good",
    "flaky__k=once",
    "flaky__k=never",
  ]);
  const tagged = await run(["run", "-n", "--json", "-f", "t2", "-f", "dir-a2", join(FIX, "dir")]);
  assertEquals(JSON.parse(tagged.stdout).map((p: { id: string }) => p.id), [
    "dir-a2",
    "dir-b__x=1",
    "dir-b__x=2",
  ]);
});

Deno.test("a failing combination gives exit 1; report, status and log read the run", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const logFile = join(tmp.path, "all.log");
  const r = await run([
    "run",
    "--no-progress",
    "-r",
    results,
    "--log",
    logFile,
    join(FIX, "flaky.ts"),
  ]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stdout, "[k=once] attempt 1 failed: first attempt fails (restarting)");
  assertStringIncludes(r.stdout, "[k=never] FAILED after 2 attempt(s)");
  assertStringIncludes(
    await Deno.readTextFile(logFile),
    "experiment flaky: 2 ok, 1 failed, 0 remaining",
  );
  const status = await run(["status", "--json", results]);
  const runs = JSON.parse(status.stdout);
  assertEquals(
    runs.map((x: Record<string, unknown>) => [x.experiment, x.state, x.succeeded, x.failed]),
    [[
      "flaky",
      "finished",
      2,
      1,
    ]],
  );
  const runDir = runs[0].runDir as string;
  const report = await run(["report", runDir]);
  assertEquals(report.code, 0, report.stderr);
  assertMatch(report.stdout, /^k\s+k2\s+value\s+state\s+attempts\s+duration_ms\n/);
  assertMatch(report.stdout, /once\s+once-row\s+2\s+done\s+2/);
  assertMatch(
    await Deno.readTextFile(join(runDir, "results.csv")),
    /^k,k2,value,state,attempts,duration_ms\ngood,good-row,1,done,1,\d+\nonce,once-row,2,done,2,\d+\nnever,,,failed,2,\d+\n$/,
  );
  const log = await run(["log", runDir, "k=once", "-f"]);
  assertEquals(log.code, 0);
  assertStringIncludes(log.stdout, "attempt 1 failed: first attempt fails");
  const noLog = await run(["log", runDir, "k=nope"]);
  assertEquals(noLog.code, 2);
  assertStringIncludes(noLog.stderr, "No log for combination 'k=nope'");
});

for (const signal of ["SIGINT", "SIGKILL"] as const) {
  Deno.test(`a run stopped by ${signal} resumes to completion with nothing run twice`, async () => {
    await using tmp = await tempDir();
    const results = join(tmp.path, "res");
    const env = {
      DEXP_T_DIR: tmp.path,
      DEXP_T_N: "6",
      DEXP_T_BLOCK: "3",
      DEXP_T_MODE: signal === "SIGINT" ? "cmd" : "loop",
    };
    const child = dexp(["run", "--no-progress", "-r", results, join(FIX, "counted.ts")], env)
      .spawn();
    await waitFor(async () => (await lines(join(tmp.path, "started.txt"))).includes("3"));
    child.kill(signal);
    const out = await child.output();
    if (signal === "SIGINT") {
      assertEquals(out.code, 130, new TextDecoder().decode(out.stderr));
      // The process layer's reaper may exit first (it stops running commands on SIGINT and
      // exits 130); either way the claim of i=3 is released or reaped, and resume reruns it.
      assertMatch(new TextDecoder().decode(out.stderr), /interrupted|SIGINT/);
    } else {
      assertEquals(out.signal, "SIGKILL");
    }
    assertEquals((await lines(join(tmp.path, "done.txt"))).map((l) => l.split(" ")[0]), [
      "0",
      "1",
      "2",
    ]);
    const again = await run([
      "run",
      "--resume",
      "--no-progress",
      "-r",
      results,
      join(FIX, "counted.ts"),
    ], { DEXP_T_DIR: tmp.path, DEXP_T_N: "6" });
    assertEquals(again.code, 0, again.stderr);
    assertStringIncludes(again.stdout, "3 already finished");
    const done = (await lines(join(tmp.path, "done.txt"))).map((l) => l.split(" ")[0]);
    assertEquals(done, ["0", "1", "2", "3", "4", "5"]);
    const status = JSON.parse((await run(["status", "--json", results])).stdout);
    assertEquals(status.map((s: Record<string, unknown>) => [s.state, s.succeeded, s.remaining]), [[
      "finished",
      6,
      0,
    ]]);
  });
}

Deno.test("two concurrent 'dexp run --resume' share one results folder and split the work", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const env = { DEXP_T_DIR: tmp.path, DEXP_T_N: "12", DEXP_T_PEERS: "2" };
  const args = ["run", "--resume", "--no-progress", "-r", results, join(FIX, "counted.ts")];
  const [a, b] = await Promise.all([dexp(args, env).output(), dexp(args, env).output()]);
  assertEquals(
    [a.code, b.code],
    [0, 0],
    new TextDecoder().decode(a.stderr) + new TextDecoder().decode(b.stderr),
  );
  const done = await lines(join(tmp.path, "done.txt"));
  const ids = done.map((l) => Number(l.split(" ")[0])).sort((x, y) => x - y);
  assertEquals(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const pids = new Set(done.map((l) => l.split(" ")[1]));
  assertEquals(pids.size, 2);
  const runs = JSON.parse((await run(["status", "--json", results])).stdout);
  assertEquals(runs.length, 1);
  assertEquals([runs[0].succeeded, runs[0].remaining], [12, 0]);
  const rj = JSON.parse(await Deno.readTextFile(join(runs[0].runDir, "run.json")));
  assertEquals(rj.runners.length, 2);
  assert(rj.state === "finished");
});

Deno.test("--notify posts to a webhook on loopback", async () => {
  await using tmp = await tempDir();
  const got = Promise.withResolvers<{ text: string }>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      got.resolve(await req.json());
      return new Response("ok");
    },
  );
  const r = await run([
    "run",
    "--no-progress",
    "-r",
    join(tmp.path, "res"),
    "--notify",
    `http://127.0.0.1:${server.addr.port}/`,
    join(FIX, "flaky.ts"),
  ]);
  assertEquals(r.code, 1);
  const body = await got.promise;
  assertStringIncludes(body.text, "✗ k=never:");
});
