// Several processes share one pool directory: concurrent writers (library and `dexp job add`)
// lose nothing, claims never give one job to two dispatchers, a writer killed mid-append
// leaves a readable store, and bad input through the CLI gets exit 2 with a clear message.
import { assert, assertEquals, assertStringIncludes, tempDir, waitFor } from "./assert.ts";
import { initPool, openPool } from "../src/pool/mod.ts";

const WORKER = new URL("./pool_worker.ts", import.meta.url).pathname;
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function worker(...args: string[]): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert(out.success, `worker ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
}

async function dexp(
  dir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { DEXP_POOL: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("pool: several processes submitting at once lose nothing, ids unique", async () => {
  await using d = await tempDir("dexp-pool-mp-");
  await (await initPool(d.path, { classes: [{ name: "cpu" }] })).close();
  const results = await Promise.all(
    ["a", "b", "c", "d"].map((tag) => worker("submit", d.path, "60", tag)),
  );
  await using pool = await openPool(d.path);
  const jobs = await pool.jobs();
  assertEquals(jobs.length, 240);
  assertEquals(jobs.map((j) => j.id), [...Array(240).keys()].map((i) => i + 1));
  // Every id a worker was given holds that worker's command.
  const byId = new Map(jobs.map((j) => [j.id, j.command]));
  for (const lines of results) {
    assertEquals(lines.length, 60);
    for (const l of lines) {
      const [id, what] = l.split(" ");
      assertEquals(byId.get(Number(id)), `echo ${what}`);
    }
  }
});

Deno.test("pool: concurrent 'dexp job add' processes lose nothing", async () => {
  await using d = await tempDir("dexp-pool-cli-");
  assertEquals((await dexp(d.path, "pool", "init", d.path, "--class", "cpu:2")).code, 0);
  const runs = await Promise.all([
    ...[...Array(6).keys()].map((i) => dexp(d.path, "job", "add", "cpu", `echo p${i}`, "-x", "3")),
    dexp(d.path, "job", "matrix", "add", "cpu", "run {K} {J}", "K=a,b", "J=1,2,3"),
    dexp(d.path, "job", "matrix", "add", "cpu", "run {K}", "K=x,y,z"),
  ]);
  for (const r of runs) assertEquals(r.code, 0, r.stderr);
  const ls = await dexp(d.path, "job", "ls", "--json");
  assertEquals(ls.code, 0, ls.stderr);
  const jobs = JSON.parse(ls.stdout) as { id: number; command: string; vars: object }[];
  assertEquals(jobs.length, 6 * 3 + 6 + 3);
  assertEquals(new Set(jobs.map((j) => j.id)).size, jobs.length);
  for (let i = 0; i < 6; i++) {
    const mine = jobs.filter((j) => j.command === `echo p${i}`).map((j) => j.id);
    assertEquals(mine.length, 3);
    assertEquals(mine[2] - mine[0], 2, "one process's jobs are one step: consecutive ids");
  }
  assertEquals(jobs.filter((j) => j.command === "run {K} {J}").length, 6);
});

Deno.test("pool: two claiming processes never get the same job; every job once", async () => {
  await using d = await tempDir("dexp-pool-claim-");
  {
    await using pool = await initPool(d.path, { classes: [{ name: "cpu" }] });
    await pool.addMachines("cpu", ["m1", "m2"]);
    await pool.submit({ class: "cpu", command: "echo", repeat: 300 });
  }
  const [a, b] = await Promise.all([
    worker("claim", d.path, "cpu", "m1"),
    worker("claim", d.path, "cpu", "m2"),
  ]);
  const all = [...a, ...b].map(Number).sort((x, y) => x - y);
  assertEquals(all, [...Array(300).keys()].map((i) => i + 1));
  await using pool = await openPool(d.path);
  const jobs = await pool.jobs();
  assert(jobs.every((j) => j.state === "done" && j.attempts.length === 1), "each claimed once");
  // FIFO: each process saw its claims in increasing order.
  for (const list of [a, b]) {
    const ids = list.map(Number);
    assertEquals(ids, [...ids].sort((x, y) => x - y));
  }
});

Deno.test("pool: a writer SIGKILLed mid-append leaves a readable store, all or nothing", async () => {
  await using d = await tempDir("dexp-pool-kill-");
  await (await initPool(d.path, { classes: [{ name: "cpu" }] })).close();
  const acked = new Map<number, number>(); // first id -> count, acknowledged by the worker
  for (let round = 0; round < 4; round++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER, "hammer", d.path, `r${round}`],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      let rest = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
      }
    })();
    // Let it commit a few matrices (round + 1), then kill it while it writes the next ones.
    await waitFor("the worker's commits", () => lines.length > round);
    child.kill("SIGKILL");
    await child.status;
    await reading;
    for (const l of lines) {
      const [first, count] = l.split(" ").map(Number);
      acked.set(first, count);
    }
    // The store opens; a transaction is all there or not there at all.
    await using pool = await openPool(d.path);
    const jobs = await pool.jobs();
    const byMatrix = new Map<number, number>();
    for (const j of jobs) {
      if (j.matrix !== null) byMatrix.set(j.matrix, (byMatrix.get(j.matrix) ?? 0) + 1);
    }
    for (const [m, n] of byMatrix) assertEquals(n, 2000, `matrix ${m} complete`);
    for (const [first, count] of acked) assertEquals(byMatrix.get(first), count, `acked ${first}`);
    // And the next writer appends fine after whatever the killed one left.
    const [j] = await pool.submit({ class: "cpu", command: "after" });
    assertEquals(j.id, Math.max(0, ...jobs.map((x) => x.id)) + 1);
    await pool.cancel([j.id]);
  }
});

Deno.test("pool: a torn last journal line is skipped, then cut by the next writer", async () => {
  await using d = await tempDir("dexp-pool-torn-");
  {
    await using pool = await initPool(d.path, { classes: [{ name: "cpu" }] });
    await pool.submit({ class: "cpu", command: "one" });
  }
  // What a writer killed in the middle of its write leaves: part of a line, no newline (longer
  // than the next writer's line, so overwriting it in place would leave a tail).
  const f = await Deno.open(`${d.path}/journal`, { append: true });
  await f.write(
    new TextEncoder().encode('{"s":3,"at":1,"ops":[{"o":"vars","vars":{"a":"' + "x".repeat(4000)),
  );
  f.close();
  {
    await using pool = await openPool(d.path);
    assertEquals((await pool.jobs()).map((j) => j.command), ["one"]);
    await pool.submit({ class: "cpu", command: "two" });
  }
  const text = await Deno.readTextFile(`${d.path}/journal`);
  assert(text.endsWith("\n"), "the journal ends with a whole line");
  for (const line of text.split("\n").slice(1, -1)) JSON.parse(line); // every line whole
  assert(!text.includes("xxxx"), "the torn part was cut");
  await using pool = await openPool(d.path);
  assertEquals((await pool.jobs()).map((j) => j.command), ["one", "two"]);
});

Deno.test("dexp job/machine/pool: bad input exits 2 naming the fix; refusals exit 1", async () => {
  await using d = await tempDir("dexp-pool-bad-");
  const none = await dexp(`${d.path}/nope`, "job", "ls");
  assertEquals(none.code, 1);
  assertStringIncludes(none.stderr, "dexp pool init");
  assertEquals((await dexp(d.path, "pool", "init", d.path, "--class", "cpu:2")).code, 0);
  const cases: [string[], number, string][] = [
    [["job", "add", "gpu", "echo"], 2, "Unknown class 'gpu'"],
    [["job", "add", "cpu", "echo {n}"], 2, "Unknown placeholder '{n}'"],
    [["job", "matrix", "add", "cpu", "echo {n}", "n="], 2, "empty list of values"],
    [["job", "matrix", "add", "cpu", "echo {n}", "n=1,2", "m=,"], 2, "empty value"],
    [["machine", "add", "cpu", "bob@bad host"], 2, "white space"],
    [["machine", "add", "cpu", "[::1"], 2, "not valid"],
    [["job", "hold", "99"], 1, "No job 99"],
    [["job", "add", "cpu", "echo", "-x", "0"], 2, "--repeat must be a positive integer"],
    [["job", "ls", "--state", "sleeping"], 2, "Unknown state 'sleeping'"],
    [["pool", "init", d.path], 1, "holds a pool already"],
  ];
  for (const [args, code, text] of cases) {
    const r = await dexp(d.path, ...args);
    assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, text);
  }
  // Nothing of the refused commands was recorded.
  assertEquals(JSON.parse((await dexp(d.path, "job", "ls", "--json")).stdout), []);
  // A pool of a newer format is refused by every verb.
  await Deno.writeTextFile(
    `${d.path}/pool.json`,
    JSON.stringify({ format: "dexp-pool", version: 2, created: 0 }),
  );
  for (const args of [["job", "ls"], ["job", "add", "cpu", "echo"], ["machine", "ls"]]) {
    const r = await dexp(d.path, ...args);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "format 2 by a newer dexp");
  }
});

Deno.test("dexp job: ls, hold, cancel, retry and stat through the CLI", async () => {
  await using d = await tempDir("dexp-pool-flow-");
  assertEquals((await dexp(d.path, "pool", "init", d.path, "--class", "gpu:0,1")).code, 0);
  const add = await dexp(
    d.path,
    "job",
    "matrix",
    "add",
    "gpu",
    "./t --lr {lr} --bs {bs}",
    "lr=0.1,0.01",
    "bs=32,64",
    "--results",
    `${d.path}/res`,
  );
  assertEquals(add.code, 0, add.stderr);
  assertStringIncludes(add.stdout, "Queued 4 jobs 1-4");
  assertEquals((await dexp(d.path, "job", "hold", "1-2")).code, 0);
  assertEquals((await dexp(d.path, "job", "cancel", "3")).code, 0);
  assertEquals((await dexp(d.path, "job", "retry", "3")).code, 0);
  const ls = await dexp(d.path, "job", "ls");
  const rows = ls.stdout.trim().split("\n");
  assertEquals(rows[0].split(/\s+/), [
    "id",
    "status",
    "class",
    "command",
    "machine",
    "slot",
    "duration",
    "output",
  ]);
  assertStringIncludes(rows[1], "held");
  assertStringIncludes(rows[1], "./t --lr 0.1 --bs 32");
  assertStringIncludes(rows[3], "waiting");
  const csv = (await dexp(d.path, "job", "stat", "--csv")).stdout.trim().split("\n");
  assertEquals(csv[0].split(",").slice(0, 4), ["id", "class", "lr", "bs"]);
  assertEquals(csv[4].split(",").slice(0, 4), ["4", "gpu", "0.01", "64"]);
  assertStringIncludes(csv[4], `${d.path}/res/4`);
  const json = JSON.parse((await dexp(d.path, "job", "stat", "--json")).stdout);
  assertEquals(json.map((r: { state: string }) => r.state), ["held", "held", "waiting", "waiting"]);
});

Deno.test("dexp pool|machine|job --help: examples and exit codes; listed in dexp --help", async () => {
  for (const verb of ["pool", "machine", "job"]) {
    const r = await dexp("", verb, "--help");
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "Examples:");
    assertStringIncludes(r.stdout, "Exit status: 0");
    assertStringIncludes(r.stdout, "--json");
  }
  const all = await dexp("", "--help");
  for (const verb of ["pool", "machine", "job"]) assertStringIncludes(all.stdout, `  ${verb} `);
  const none = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "job", "ls"],
    env: { DEXP_POOL: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(none.code, 2);
  assertStringIncludes(new TextDecoder().decode(none.stderr), "--pool DIR or set DEXP_POOL");
});
