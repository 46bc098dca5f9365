import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  tempDir,
} from "../../tests/assert.ts";
import { initPool, openPool } from "./pool.ts";
import { PoolFormatError, PoolStateError } from "./errors.ts";

async function twoClasses(dir: string) {
  return await initPool(dir, {
    classes: [
      { name: "cpu", slots: 2 },
      { name: "gpu", slots: ["0", "1"], env: { CUDA_VISIBLE_DEVICES: "{slot}" } },
    ],
  });
}

Deno.test("pool: FIFO per class, claims move a job to running with an attempt", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await pool.addMachines("cpu", ["n1", "bob@n2:2222"]);
  await pool.addMachines("gpu", ["g1"]);
  const a = await pool.submit({ class: "cpu", command: "echo a {job}" });
  const g = await pool.submit({ class: "gpu", command: "echo g" });
  const b = await pool.submit({ class: "cpu", command: "echo b", repeat: 2 });
  assertEquals(b.map((j) => j.rep), [0, 1]);
  assertEquals((await pool.nextWaiting("cpu"))?.id, a[0].id);
  const c1 = await pool.claimNext("cpu", { machine: "n1", slot: "0" });
  assertEquals(c1?.id, a[0].id);
  assertEquals(c1?.state, "running");
  assertEquals(c1?.attempts.length, 1);
  const c2 = await pool.claimNext("cpu", { machine: "n2:2222", slot: "1" });
  assertEquals(c2?.id, b[0].id);
  assertEquals((await pool.claimNext("gpu", { machine: "g1", slot: "0" }))?.id, g[0].id);
  assertEquals(await pool.claimNext("gpu", { machine: "g1", slot: "1" }), null);
  // A claimed job cannot be claimed again (another dispatcher, a stale view).
  await assertRejects(() => pool.claim(a[0].id, { machine: "n1", slot: "1" }), PoolStateError);
  // Wrong class for the machine.
  await assertRejects(
    () => pool.claim(b[1].id, { machine: "g1", slot: "1" }),
    PoolStateError,
    "class",
  );
});

Deno.test("pool: attempts: copying, done, retry policy, infrastructure failures", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await pool.addMachines("cpu", ["n1"]);
  const [j] = await pool.submit({
    class: "cpu",
    command: "run",
    retry: { attempts: 2, countInfrastructure: false },
  });
  const where = { machine: "n1", slot: "0" };
  await pool.claim(j.id, where);
  let now = await pool.finishAttempt(j.id, 0, { outcome: "lost", reason: "host rebooted" });
  assertEquals(now.state, "waiting"); // not counted
  await pool.claim(j.id, where);
  now = await pool.finishAttempt(j.id, 1, { outcome: "failed", reason: "exit 1", exitCode: 1 });
  assertEquals(now.state, "waiting"); // 1 of 2 counted
  await pool.claim(j.id, where);
  now = await pool.startCopying(j.id, 2, 3);
  assertEquals(now.state, "copying");
  now = await pool.finishAttempt(j.id, 2, { outcome: "failed", reason: "exit 3", exitCode: 3 });
  assertEquals(now.state, "failed");
  assertEquals(now.reason, "exit 3");
  assertEquals(now.attempts.map((a) => a.outcome), ["lost", "failed", "failed"]);
  await assertRejects(() => pool.finishAttempt(j.id, 2, { outcome: "done" }), PoolStateError);
  // A manual retry gives a fresh budget and keeps the history.
  now = (await pool.retry([j.id]))[0];
  assertEquals(now.state, "waiting");
  await pool.claim(j.id, where);
  now = await pool.finishAttempt(j.id, 3, { outcome: "done", results: "/r/1" });
  assertEquals(now.state, "done");
  assertEquals(now.attempts.length, 4);
});

Deno.test("pool: hold, unhold, cancel, and a canceled running job to stop", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await pool.addMachines("cpu", ["n1"]);
  const js = await pool.submit({ class: "cpu", command: "run", repeat: 3 });
  const [a, b, c] = js.map((j) => j.id);
  await pool.hold([a]);
  assertEquals((await pool.nextWaiting("cpu"))?.id, b);
  await pool.unhold([a]);
  assertEquals((await pool.nextWaiting("cpu"))?.id, a); // back at its place
  await pool.claim(b, { machine: "n1", slot: "0" });
  await assertRejects(() => pool.hold([b]), PoolStateError, "only a waiting job");
  await pool.cancel([b, c]);
  assertEquals((await pool.toStop()).map((j) => j.id), [b]);
  await assertRejects(() => pool.retry([b]), PoolStateError, "still runs");
  const now = await pool.finishAttempt(b, 0, { outcome: "failed", reason: "killed" });
  assertEquals(now.state, "canceled");
  assertEquals(await pool.toStop(), []);
  // All or nothing: one bad id, nothing recorded.
  await assertRejects(() => pool.hold([a, 999]), PoolStateError, "No job 999");
  assertEquals((await pool.job(a))?.state, "waiting");
});

Deno.test("pool: machines: setup, infrastructure failures quarantine, release", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await pool.addMachines("cpu", ["n1", "n2"]);
  await pool.setupStarted("n1", { fingerprint: "f1", log: "/l/n1" });
  let m = await pool.setupSucceeded("n1", { fingerprint: "f1" });
  assertEquals([m.state, m.setup?.ok, m.setup?.log], ["ready", true, "/l/n1"]);
  m = await pool.setupFailed("n2", { fingerprint: "f1", reason: "apt failed" });
  assertEquals([m.state, m.reason], ["setup-failed", "apt failed"]);
  for (let i = 0; i < 2; i++) m = await pool.infraFailure("n1", "could not connect");
  assertEquals(m.state, "ready");
  m = await pool.infraFailure("n1", "could not connect");
  assertEquals(m.state, "quarantined");
  assertStringIncludes(m.reason!, "3 infrastructure failures");
  m = await pool.release("n1");
  assertEquals([m.state, m.infraFailures], ["ready", 0]);
  await assertRejects(() => pool.release("n1"), PoolStateError, "not quarantined");
  await pool.removeMachine("n2");
  assertEquals((await pool.machines()).map((x) => x.name), ["n1"]);
  await assertRejects(() => pool.addMachines("cpu", ["n1"]), PoolStateError, "already");
  await pool.addMachines("cpu", ["n2"]); // a removed machine can come back
});

Deno.test("pool: bad input gets errors naming the fix", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await assertRejects(
    () => pool.submit({ class: "tpu", command: "x" }),
    RangeError,
    "Unknown class 'tpu'",
  );
  await assertRejects(() => pool.addMachines("tpu", ["n1"]), RangeError, "Unknown class");
  await assertRejects(
    () => pool.submit({ class: "cpu", command: "run {n}" }),
    RangeError,
    "Unknown placeholder '{n}'",
  );
  await assertRejects(
    () => pool.matrix({ class: "cpu", command: "run {n}", matrix: { n: [] } }),
    RangeError,
    "empty list of values",
  );
  await assertRejects(
    async () => await pool.addMachines("cpu", ["bad host"]),
    TypeError,
    "white space",
  );
  await assertRejects(
    async () => await pool.submit({ class: "cpu", command: "x", repeat: 0 }),
    RangeError,
    "'repeat'",
  );
  await assertRejects(() => initPool(d.path), PoolStateError, "holds a pool already");
  assertEquals((await pool.jobs()).length, 0);
});

Deno.test("pool: a newer format is refused with a clear error", async () => {
  await using d = await tempDir("dexp-pool-");
  await (await initPool(d.path)).close();
  await Deno.writeTextFile(
    `${d.path}/pool.json`,
    JSON.stringify({ format: "dexp-pool", version: 99, created: 1 }),
  );
  await assertRejects(() => openPool(d.path), PoolFormatError, "format 99 by a newer dexp");
  await assertRejects(() => openPool(`${d.path}/none`), Deno.errors.NotFound, "dexp pool init");
});

Deno.test("pool: a second handle sees every change; compaction keeps everything", async () => {
  await using d = await tempDir("dexp-pool-");
  await using a = await initPool(d.path, {
    classes: [{ name: "cpu" }],
    compactBytes: 2000,
  });
  await using b = await openPool(d.path, { compactBytes: 2000 });
  await a.addMachines("cpu", ["n1"]);
  for (let i = 0; i < 30; i++) {
    await (i % 2 ? a : b).submit({ class: "cpu", command: `echo ${i}` });
  }
  await a.claimNext("cpu", { machine: "n1", slot: "0" });
  const seen = await b.jobs();
  assertEquals(seen.length, 30);
  assertEquals(seen.map((j) => j.command), [...Array(30).keys()].map((i) => `echo ${i}`));
  assertEquals(seen[0].state, "running");
  await using c = await openPool(d.path);
  assertEquals((await c.jobs()).map((j) => j.id), seen.map((j) => j.id));
  assert(Deno.statSync(`${d.path}/snapshot`).isFile, "compacted");
});

Deno.test("pool: stat rows have the matrix variables as columns, the outcome and results", async () => {
  await using d = await tempDir("dexp-pool-");
  await using pool = await twoClasses(d.path);
  await pool.addMachines("gpu", ["g1"]);
  const jobs = await pool.matrix({
    class: "gpu",
    command: "./t {lr} {bs}",
    matrix: { lr: ["0.1", "0.01"], bs: ["32"] },
    results: `${d.path}/res`,
  });
  await pool.submit({ class: "cpu", command: "plain" });
  const j = await pool.claim(jobs[0].id, { machine: "g1", slot: "1" });
  await pool.startCopying(j.id, 0, 0);
  await pool.finishAttempt(j.id, 0, { outcome: "done", exitCode: 0, results: `${d.path}/res/1` });
  const st = await pool.stat();
  assertEquals(st.columns.slice(0, 4), ["id", "class", "lr", "bs"]);
  assertEquals(st.rows.map((r) => [r.id, r.lr, r.bs, r.state, r.outcome, r.slot, r.exit_code]), [
    [1, "0.1", "32", "done", "done", "1", 0],
    [2, "0.01", "32", "waiting", null, null, null],
    [3, null, null, "waiting", null, null, null],
  ]);
  assertEquals(st.rows[0].results, `${d.path}/res/1`);
  assertEquals(st.rows[1].results, `${d.path}/res/2`);
  assert(typeof st.rows[0].duration_ms === "number", "a duration for the job that ran");
  assertEquals((await pool.stat({ matrix: jobs[0].id })).rows.length, 2);
});

Deno.test("pool: declared outputs are kept per job, need a results folder, and use known placeholders only", async () => {
  await using d = await tempDir("dexp-pool-");
  {
    await using pool = await twoClasses(d.path);
    await assertRejects(
      () => pool.submit({ class: "cpu", command: "true", outputs: ["out-{job}.csv"] }),
      TypeError,
      "results folder",
    );
    await assertRejects(
      () => pool.submit({ class: "cpu", command: "true", outputs: ["{nope}"], results: d.path }),
      RangeError,
      "nope",
    );
    await assertRejects(
      () => pool.submit({ class: "cpu", command: "true", outputs: [" "], results: d.path }),
      TypeError,
      "non-empty path",
    );
    assertEquals(await pool.jobs(), [], "a refused submission records nothing");
    const [plain] = await pool.submit({ class: "cpu", command: "true" });
    assertEquals(plain.outputs, []);
    await pool.matrix({
      class: "cpu",
      command: "./run {k}",
      matrix: { k: ["a", "b"] },
      outputs: ["out-{k}-{job}.csv", "{slot}/log"],
      results: d.path,
    });
  }
  const expected = [
    [],
    ["out-{k}-{job}.csv", "{slot}/log"],
    ["out-{k}-{job}.csv", "{slot}/log"],
  ];
  {
    await using again = await openPool(d.path);
    assertEquals((await again.jobs()).map((j) => j.outputs), expected);
  }
  // Through a snapshot too (a compaction on the next write).
  {
    await using compacting = await openPool(d.path, { compactBytes: 1 });
    await compacting.submit({ class: "cpu", command: "true" });
  }
  await Deno.stat(`${d.path}/snapshot`);
  await using last = await openPool(d.path);
  assertEquals((await last.jobs()).map((j) => j.outputs), [...expected, []]);
});
