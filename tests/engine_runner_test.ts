// The experiment engine in one process: registration, result folders, run.json, restarts,
// timeouts, parallelism, resume, filters, notification, results collection, progress.
import { join } from "node:path";
import { cmd, local } from "../mod.ts";
import {
  clearExperiments,
  collectRun,
  defineExperiment,
  type Experiment,
  experiment,
  listRuns,
  notifyPayload,
  planExperiments,
  ProgressModel,
  registeredExperiments,
  rowsFromJsonLines,
  rowsFromRegex,
  type RunEvent,
  runExperiments,
  type RunJson,
  toCsv,
  writeReport,
} from "../src/engine/mod.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "dexp-engine-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

const quiet = { display: "none" } as const;

Deno.test("experiment() registers in a registry shared by every copy of the module", async () => {
  clearExperiments();
  const copy = await import("../src/engine/registry.ts?second-copy");
  copy.experiment("from-copy", {}, () => {});
  experiment("from-main", {}, () => {});
  assertEquals(registeredExperiments().map((e) => e.name), ["from-copy", "from-main"]);
  assertEquals(copy.registeredExperiments().length, 2);
  let err: unknown;
  try {
    experiment("from-main", {}, () => {});
  } catch (e) {
    err = e;
  }
  assert(err instanceof TypeError);
  assertMatch(err.message, /registered twice/);
  clearExperiments();
});

Deno.test("experiment options are checked with messages that say how to fix them", () => {
  const bad: [() => unknown, RegExp][] = [
    [() => defineExperiment("a b", {}, () => {}), /Experiment name must use/],
    [
      () => defineExperiment("x", { params: 7 as never }, () => {}),
      /must be an object of parameter lists/,
    ],
    [() => defineExperiment("x", { maxRestarts: -1 }, () => {}), /maxRestarts/],
    [() => defineExperiment("x", { timeout: 0 }, () => {}), /timeout/],
  ];
  for (const [f, re] of bad) {
    let msg = "";
    try {
      f();
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, re);
  }
});

Deno.test("a run writes result folders, logs, run.json and atomic result files", async () => {
  await using tmp = await tempDir();
  const e = defineExperiment(
    "grid",
    { params: { a: [1, 2], b: ["x"] }, tags: ["t"] },
    async (ctx, p) => {
      await ctx.spawn(`echo out-${p.a}`);
      ctx.log(`note ${p.a}`);
      await ctx.writeJson("data/v.json", { a: p.a });
    },
  );
  const s = await runExperiments([e], { results: tmp.path, ...quiet });
  assert(s.ok);
  const { runDir } = s.experiments[0];
  assertMatch(runDir, /grid\/\d{8}-\d{6}-[0-9a-f]{4}$/);
  const rj = JSON.parse(await Deno.readTextFile(join(runDir, "run.json"))) as RunJson;
  assertEquals(rj.state, "finished");
  assertEquals(rj.hosts, ["local"]);
  assertEquals(rj.versions.dexp, "0.1.0");
  assertEquals(rj.counts, { succeeded: 2, failed: 0, remaining: 0 });
  assertEquals(rj.combinations.map((c) => [c.name, c.outcome]), [["a=1_b=x", "ok"], [
    "a=2_b=x",
    "ok",
  ]]);
  assert(rj.end !== undefined && rj.start <= rj.end);
  const log = await Deno.readTextFile(join(runDir, "log.txt"));
  // Command output is stored once, raw, in the combination's log; ctx.log lines go to both.
  assert(!log.includes("out-2"), log);
  assertStringIncludes(log, "[a=1_b=x] note 1");
  const clog = await Deno.readTextFile(join(runDir, "a=1_b=x", "log.txt"));
  assertMatch(clog, / \[local\] stdout:\nout-1\n.* note 1\n/);
  assertEquals(JSON.parse(await Deno.readTextFile(join(runDir, "a=2_b=x", "data", "v.json"))), {
    a: 2,
  });
  // No temporary files are left behind by atomic writes.
  const leftovers: string[] = [];
  for await (const f of Deno.readDir(join(runDir, "a=2_b=x", "data"))) leftovers.push(f.name);
  assertEquals(leftovers, ["v.json"]);
  const rec = JSON.parse(await Deno.readTextFile(join(runDir, "a=1_b=x", "result.json")));
  assertEquals([rec.outcome, rec.attempts, rec.params], ["ok", 1, { a: 1, b: "x" }]);
});

Deno.test("a combination that fails once succeeds on restart; exhausted restarts fail but the run goes on", async () => {
  await using tmp = await tempDir();
  const attempts: string[] = [];
  const e = defineExperiment(
    "restarts",
    { params: { k: ["once", "ret", "never", "after"] }, maxRestarts: 1 },
    (ctx, p) => {
      attempts.push(`${p.k}#${ctx.attempt}`);
      if (p.k === "once" && ctx.attempt === 1) throw new Error("flaky");
      if (p.k === "ret" && ctx.attempt === 1) return "restart";
      if (p.k === "never") ctx.restart("never works");
    },
  );
  const s = await runExperiments([e], { results: tmp.path, ...quiet });
  assertEquals(attempts, ["once#1", "once#2", "ret#1", "ret#2", "never#1", "never#2", "after#1"]);
  assert(!s.ok);
  assertEquals([s.experiments[0].succeeded, s.experiments[0].failed], [3, 1]);
  assertEquals(s.experiments[0].failures, [{
    name: "k=never",
    error: "restart requested: never works",
  }]);
  const log = await Deno.readTextFile(join(s.experiments[0].runDir, "k=once", "log.txt"));
  assertStringIncludes(log, "attempt 1 failed: flaky (restarting)");
  assertStringIncludes(log, "start (attempt 2)");
});

Deno.test("maxRestarts defaults to 0: no retry", async () => {
  await using tmp = await tempDir();
  let calls = 0;
  const e = defineExperiment("noretry", {}, () => {
    calls++;
    throw new Error("no");
  });
  const s = await runExperiments([e], { results: tmp.path, ...quiet });
  assertEquals([calls, s.ok, s.experiments[0].failed], [1, false, 1]);
});

Deno.test("a timeout stops the attempt and its commands", async () => {
  await using tmp = await tempDir();
  const e = defineExperiment("slow", { timeout: 300 }, async (ctx) => {
    await ctx.spawn("sleep 30");
  });
  const s = await runExperiments([e], { results: tmp.path, ...quiet });
  assertEquals(s.experiments[0].failures[0].error, "timed out after 300 ms");
});

Deno.test("--parallel N runs up to N combinations at once", async () => {
  await using tmp = await tempDir();
  let running = 0, most = 0;
  const gate = Promise.withResolvers<void>();
  const e = defineExperiment("par", { params: { i: [1, 2, 3, 4, 5, 6] } }, async () => {
    running++;
    most = Math.max(most, running);
    if (running === 3) gate.resolve();
    await gate.promise; // the first ones wait until 3 run together
    running--;
  });
  const workers = new Set<number>();
  const s = await runExperiments([e], {
    results: tmp.path,
    parallel: 3,
    ...quiet,
    listeners: [(ev) => ev.type === "combo-start" && workers.add(ev.worker)],
  });
  assert(s.ok);
  assertEquals(most, 3);
  // Not more than 3 either: a 4th worker would claim a combination while the first 3 wait
  // (their bodies may have ended by the time it starts one, so `most` alone misses it).
  assertEquals([...workers].sort(), [0, 1, 2]);
});

Deno.test("an interrupted run resumes: finished combinations are not run again", async () => {
  await using tmp = await tempDir();
  const ran: number[] = [];
  const ac = new AbortController();
  const e = defineExperiment("resumable", { params: { i: [0, 1, 2, 3, 4] } }, async (ctx, p) => {
    if (p.i === 2 && !ac.signal.aborted) {
      const sleeper = ctx.spawn("sleep 30");
      ac.abort();
      await sleeper.then(() => {}, () => {});
    }
    if (!ctx.signal.aborted) ran.push(p.i as number);
  });
  const s1 = await runExperiments([e], { results: tmp.path, signal: ac.signal, ...quiet });
  assert(s1.interrupted && !s1.ok);
  assertEquals(ran, [0, 1]);
  const rj = JSON.parse(await Deno.readTextFile(join(s1.experiments[0].runDir, "run.json")));
  assertEquals(rj.state, "interrupted");
  const s2 = await runExperiments([e], { results: tmp.path, resume: true, ...quiet });
  assert(s2.ok);
  assertEquals(s2.experiments[0].runDir, s1.experiments[0].runDir);
  assertEquals(ran, [0, 1, 2, 3, 4]);
  assertEquals(s2.experiments[0].ranHere, 3);
  // A third resume has nothing to do; a run without --resume starts a new folder.
  const s3 = await runExperiments([e], { results: tmp.path, resume: true, ...quiet });
  assertEquals(s3.experiments[0].ranHere, 0);
  const s4 = await runExperiments([e], {
    results: tmp.path,
    continueDir: s1.experiments[0].runDir,
    ...quiet,
  });
  assertEquals(s4.experiments[0].ranHere, 0);
  const s5 = await runExperiments([e], { results: tmp.path, ...quiet });
  assert(s5.experiments[0].runDir !== s1.experiments[0].runDir);
  assertEquals((await listRuns(tmp.path)).map((r) => [r.state, r.succeeded]), [["finished", 5], [
    "finished",
    5,
  ]]);
});

Deno.test("filters by name glob or tag, and plans names like grid__a=1_b=2", () => {
  const es: Experiment[] = [
    defineExperiment("net-lat", { tags: ["net"], params: { a: [1], b: [2] } }, () => {}),
    defineExperiment("cpu", { tags: ["compute"] }, () => {}),
  ];
  assertEquals(planExperiments(es).map((p) => p.id), ["net-lat__a=1_b=2", "cpu"]);
  assertEquals(planExperiments(es, { filter: ["net-*"] }).map((p) => p.experiment), ["net-lat"]);
  assertEquals(planExperiments(es, { filter: ["compute"] }).map((p) => p.experiment), ["cpu"]);
});

Deno.test("commands can target a subset of hosts and are stopped at the end of the attempt", async () => {
  await using tmp = await tempDir();
  const e = defineExperiment("subset", { hosts: local(3) }, async (ctx) => {
    const r = await ctx.spawn(ctx.hosts.where((_, i) => i !== 1).run((_, i) => `echo host ${i}`));
    assertEquals(r.text(), ["host 0", "host 1"]);
    ctx.spawn("sleep 30"); // left running: stopped by the engine
  });
  const events: RunEvent[] = [];
  const s = await runExperiments([e], {
    results: tmp.path,
    display: "none",
    listeners: [(ev) => events.push(ev)],
  });
  assert(s.ok);
  assert(events.some((ev) => ev.type === "output" && /stopped 1 command/.test(ev.line)));
});

Deno.test("notify posts a Slack-compatible summary listing failures", async () => {
  await using tmp = await tempDir();
  const got = Promise.withResolvers<Record<string, unknown>>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      got.resolve(await req.json());
      return new Response("ok");
    },
  );
  const e = defineExperiment("notified", { params: { k: ["a", "b"] } }, (_ctx, p) => {
    if (p.k === "b") throw new Error("bad b");
  });
  await runExperiments([e], {
    results: tmp.path,
    notify: `http://127.0.0.1:${server.addr.port}/hook`,
    ...quiet,
  });
  const body = await got.promise;
  assertMatch(body.text as string, /^dexp run FAILED: 1 ok, 1 failed, 0 remaining/);
  assertStringIncludes(body.text as string, "k=b: bad b");
  assertEquals((body.dexp as { ok: boolean }).ok, false);
});

Deno.test("rows from regex and JSON lines; report writes CSV and JSON lines", async () => {
  assertEquals(rowsFromRegex("lat=1.5 op=r\nlat=2 op=w\n", /lat=(?<lat>[\d.]+) op=(?<op>\w)/), [
    { lat: 1.5, op: "r" },
    { lat: 2, op: "w" },
  ]);
  assertEquals(rowsFromJsonLines('x\n{"a":1}\n[1]\n{"b":"c"}\n'), [{ a: 1 }, { b: "c" }]);
  assertEquals(
    toCsv({ columns: ["a", "b"], rows: [{ a: 'x"y', b: "1,2" }] }),
    'a,b\n"x""y","1,2"\n',
  );
  await using tmp = await tempDir();
  const e = defineExperiment("rows", { params: { n: [1, 2] } }, async (ctx, p) => {
    const out = await cmd(`echo "ops=${p.n}0"; echo "ops=${p.n}1"`).quiet();
    await ctx.addRows(rowsFromRegex(out.text(), /ops=(?<ops>\d+)/));
  });
  const s = await runExperiments([e], { results: tmp.path, ...quiet });
  const dir = s.experiments[0].runDir;
  const t = await writeReport(dir);
  assertEquals(t.columns, ["n", "ops", "state", "attempts", "duration_ms"]);
  assertEquals(t.rows.map((r) => [r.n, r.ops, r.state]), [[1, 10, "done"], [1, 11, "done"], [
    2,
    20,
    "done",
  ], [2, 21, "done"]]);
  const csv = await Deno.readTextFile(join(dir, "results.csv"));
  assertMatch(csv, /^n,ops,state,attempts,duration_ms\n1,10,done,1,\d+\n/);
  assertEquals((await Deno.readTextFile(join(dir, "results.jsonl"))).trim().split("\n").length, 4);
  assertEquals((await collectRun(dir)).rows.length, 4);
});

Deno.test("the progress display is a pure state machine", () => {
  const m = new ProgressModel();
  const base = { experiment: "grid" };
  m.apply({
    type: "experiment-start",
    at: 0,
    ...base,
    runDir: "r",
    total: 10,
    finished: 2,
    workers: 2,
  });
  m.apply({ type: "combo-start", at: 0, ...base, worker: 0, name: "a=1", attempt: 1 });
  m.apply({ type: "combo-start", at: 0, ...base, worker: 1, name: "a=2", attempt: 2 });
  m.apply({ type: "output", at: 0, ...base, worker: 1, name: "a=2", line: "[local] hello\tworld" });
  m.apply({
    type: "combo-end",
    at: 4000,
    ...base,
    worker: 0,
    name: "a=1",
    outcome: "ok",
    attempts: 1,
    duration: 4000,
  });
  m.apply({
    type: "combo-end",
    at: 4000,
    ...base,
    worker: 5,
    name: "a=9",
    outcome: "failed",
    attempts: 1,
    duration: 1,
  });
  const frame = m.render({ now: 4000, width: 120 });
  assertEquals(
    frame,
    "grid [############------------------]  40% 1 done, 1 failed, 6 left, 2 before, elapsed 4.0s, eta 5.0s\n" +
      "  #1 a=2 (attempt 2) | [local] hello world",
  );
  assertEquals(m.render({ now: 4000, width: 30 }).split("\n").map((l) => l.length <= 30), [
    true,
    true,
  ]);
  assertStringIncludes(m.render({ now: 4000, width: 120, color: true }), "\x1b[31m1 failed\x1b[0m");
  assert(!m.render({ now: 4000, width: 120 }).includes("\x1b"));
  assertEquals(new ProgressModel().eta(0), undefined);
});

Deno.test("notifyPayload lists at most 20 failures per experiment", () => {
  const failures = Array.from({ length: 25 }, (_, i) => ({ name: `i=${i}`, error: "x" }));
  const p = notifyPayload({
    ok: false,
    interrupted: false,
    start: "",
    end: "",
    experiments: [{
      experiment: "e",
      runId: "r",
      runDir: "d",
      total: 25,
      succeeded: 0,
      failed: 25,
      remaining: 0,
      ranHere: 25,
      failures,
      interrupted: false,
    }],
  });
  assertStringIncludes(p.text, "... and 5 more");
});

Deno.test("the terminal renderer redraws frames in place and respects NO_COLOR", async () => {
  const { TerminalProgress } = await import("../src/engine/progress.ts");
  const chunks: string[] = [];
  const out = {
    writeSync: (b: Uint8Array) => (chunks.push(new TextDecoder().decode(b)), b.length),
  };
  const tp = new TerminalProgress(out, false, 60_000);
  tp.event({
    type: "experiment-start",
    at: Date.now(),
    experiment: "g",
    runDir: "r",
    total: 2,
    finished: 0,
    workers: 1,
  });
  tp.event({
    type: "combo-start",
    at: Date.now(),
    experiment: "g",
    worker: 0,
    name: "a=1",
    attempt: 1,
  });
  tp.draw();
  tp.event({
    type: "combo-end",
    at: Date.now(),
    experiment: "g",
    worker: 0,
    name: "a=1",
    outcome: "failed",
    attempts: 1,
    duration: 5,
  }, "a=1 FAILED");
  tp.close();
  const text = chunks.join("");
  assertStringIncludes(text, "#0 a=1");
  assertStringIncludes(text, "\x1b[1F\x1b[J"); // the two-line frame is erased before the log line
  assertStringIncludes(text, "a=1 FAILED\n");
  assertStringIncludes(text, "0 done, 1 failed, 1 left");
  assert(!text.includes("\x1b[31m"));
});
