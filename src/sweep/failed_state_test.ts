// The failed state: fail() is its own state with a reason, listed and reset on its own; a
// format-1 directory is compacted into format 2 before its first failure, and only then.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ParamSweeper } from "./param_sweeper.ts";
import { sweep } from "./sweep.ts";
import { range } from "./ranges.ts";
import { formatSweepStatus, resetSweep, sweepStatus } from "./status.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "dexp-sweep-failed-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function formatOf(dir: string, file: "journal" | "snapshot"): string {
  return Deno.readTextFileSync(`${dir}/${file}`).split("\n", 1)[0].split("\t")[1];
}

Deno.test("fail(): a failed combination is failed, not skipped, with its reason", async () => {
  await using tmp = await tempDir();
  await using s = await ParamSweeper.open(tmp.path, sweep({ i: range(5) }));
  const c = (await s.next())!;
  assertEquals(await s.fail(c, "exit code 3 on n2"), true);
  assertEquals(await s.fail(c, "again"), false); // already finished
  assertEquals(await s.skip({ i: 1 }, "does not fit"), true);
  assertEquals(await s.failMany([{ i: 2 }, { i: 3 }], "node lost"), 2);
  assertEquals(await s.stateOf(c), { state: "failed", reason: "exit code 3 on n2" });
  assertEquals(await s.stateOf({ i: 1 }), { state: "skipped", reason: "does not fit" });
  const st = await s.stats();
  assertEquals([st.total, st.done, st.skipped, st.failed, st.todo, st.remaining], [
    5,
    0,
    1,
    3,
    1,
    1,
  ]);
  assertEquals(st.failedRatio, 0.6);
  assertEquals(await s.list("failed"), [{ i: 0 }, { i: 2 }, { i: 3 }]);
  assertEquals(await s.reasons("failed"), [
    { combination: { i: 0 }, reason: "exit code 3 on n2" },
    { combination: { i: 2 }, reason: "node lost" },
    { combination: { i: 3 }, reason: "node lost" },
  ]);
  assertEquals(await s.reasons("skipped"), [{ combination: { i: 1 }, reason: "does not fit" }]);
  // Failed ones are not claimed again.
  assertEquals(await s.next(), { i: 4 });
  assertEquals(await s.next(), null);
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => s.reasons("done" as any), RangeError, "'state'");
  // A reset of skipped ones leaves failed ones alone, and the other way round.
  assertEquals(await s.reset("skipped"), 1);
  assertEquals(await s.stateOf({ i: 2 }), { state: "failed", reason: "node lost" });
  assertEquals(await s.reset("failed"), 3);
  assertEquals(await s.stateOf({ i: 2 }), { state: "todo" });
  assertEquals((await s.stats()).failed, 0);
  assertEquals(await s.next(), { i: 0 });
  await s.fail({ i: 0 }, "twice");
  assertEquals(await s.reset("all"), 2); // {i: 0} failed and {i: 4} in progress
});

Deno.test("fail(): other processes see failures, through the journal and a snapshot", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(60) });
  await using a = await ParamSweeper.open(tmp.path, combos, { compactBytes: 1024 });
  await using b = await ParamSweeper.open(tmp.path, combos, { compactBytes: 1024 });
  await a.fail((await a.next())!, "first\tline\nsecond line");
  assertEquals(await b.stateOf({ i: 0 }), {
    state: "failed",
    reason: "first\tline\nsecond line",
  });
  for (let k = 1; k < 60; k++) {
    const c = (await b.next())!;
    if (k % 10 === 0) await b.fail(c, `bad ${k}`);
    else await b.done(c);
  }
  assert(a.compactions + b.compactions > 0, "no compaction happened");
  assertEquals(formatOf(tmp.path, "snapshot"), "2");
  const st = await a.stats();
  assertEquals([st.done, st.failed, st.todo], [54, 6, 0]);
  // A fresh reader (snapshot + journal) agrees.
  const status = await sweepStatus(tmp.path);
  assertEquals([status.done, status.failed, status.skipped], [54, 6, 0]);
  assertEquals(status.failures[1], { combination: { i: 10 }, reason: "bad 10" });
  const text = formatSweepStatus(status);
  assert(text.includes("  failed      6 (10.0%)"), text);
  assert(text.includes(`  {"i":0}  first\tline ⏎ second line`), text);
  assert(text.includes(`  {"i":50}  bad 50`), text);
});

Deno.test("sweepStatus lists skip and failure reasons, cut to maxClaims in the text", async () => {
  await using tmp = await tempDir();
  {
    await using s = await ParamSweeper.open(tmp.path, sweep({ i: range(30) }));
    for (let i = 0; i < 25; i++) await s.skip({ i }, i === 3 ? "" : `reason ${i}`);
    await s.fail({ i: 29 }, "crashed");
  }
  const st = await sweepStatus(tmp.path);
  assertEquals([st.skipped, st.failed], [25, 1]);
  assertEquals(st.skips.length, 25);
  assertEquals(st.skips[3], { combination: { i: 3 }, reason: "" });
  assertEquals(st.failures, [{ combination: { i: 29 }, reason: "crashed" }]);
  const text = formatSweepStatus(st, { maxClaims: 5 });
  assert(text.includes('failed:\n  {"i":29}  crashed'), text);
  assert(text.includes('skipped:\n  {"i":0}  reason 0'), text);
  assert(text.includes(`  {"i":3}  (no reason given)`), text);
  assert(text.includes("  ... and 20 more"), text);
  assert(!text.includes("reason 5"), text);
});

Deno.test("a format-1 directory stays format 1 until its first failure, then becomes format 2", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(4) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    await s.done((await s.next())!);
    await s.skip({ i: 1 }, "no node");
    await s.reset("skipped");
    await s.skip({ i: 1 }, "no node");
  }
  assertEquals(formatOf(tmp.path, "journal"), "1"); // older dexp can still read it
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    assertEquals(await s.fail((await s.next())!, "exit 1"), true);
    assertEquals(formatOf(tmp.path, "journal"), "2");
    assertEquals(formatOf(tmp.path, "snapshot"), "2");
    assertEquals(await s.stateOf({ i: 1 }), { state: "skipped", reason: "no node" });
  }
  await using s = await ParamSweeper.open(tmp.path, combos);
  assertEquals(await s.stateOf({ i: 2 }), { state: "failed", reason: "exit 1" });
  assertEquals(await s.stateOf({ i: 0 }), { state: "done" });
  assertEquals(await s.next(), { i: 3 });
  // `reset("failed")` on a format-1 directory upgrades it too (format 1 cannot say it).
  await using tmp2 = await tempDir();
  {
    await using t = await ParamSweeper.open(tmp2.path, combos);
    await t.done({ i: 0 });
  }
  assertEquals(await resetSweep(tmp2.path, "failed"), 0);
  assertEquals(formatOf(tmp2.path, "journal"), "2");
  assertEquals((await sweepStatus(tmp2.path)).done, 1);
});

Deno.test("the format-1 fixture keeps every record when its first failure upgrades it", async () => {
  const fixture = new URL("../../tests/fixtures/sweep/v1", import.meta.url).pathname;
  await using tmp = await tempDir();
  for (const f of ["journal", "snapshot", "combos"]) {
    Deno.copyFileSync(`${fixture}/${f}`, `${tmp.path}/${f}`);
  }
  const combos = sweep({ a: [1, 2, 3], b: ["x", "y"] });
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    assertEquals(await s.fail({ a: 3, b: "x" }, "exit 2"), true);
    assertEquals(formatOf(tmp.path, "journal"), "2");
  }
  const st = await sweepStatus(tmp.path);
  // The crashed owner's lease expired long ago: its claim went back to todo on the way.
  assertEquals([st.total, st.done, st.skipped, st.failed, st.todo], [6, 2, 1, 1, 2]);
  assertEquals(st.outsideSet, 1);
  assertEquals(st.skips, [{ combination: { a: 1, b: "y" }, reason: "out of memory" }]);
  assertEquals(st.failures, [{ combination: { a: 3, b: "x" }, reason: "exit 2" }]);
  assertEquals(st.claims, []);
  await using t = await ParamSweeper.open(tmp.path, sweep({ a: [9], b: ["x"] }));
  assertEquals(await t.stateOf({ a: 9, b: "x" }), { state: "done" });
});
