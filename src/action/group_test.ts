import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/assert.ts";
import { cmd, ExpectError, isAlive } from "../process/mod.ts";
import { CompositeError, type FunctionResult, par, seq } from "./compose.ts";
import { local } from "./group.ts";
import { GroupError } from "./group_result.ts";
import { report } from "./report.ts";

Deno.test("group results are in input order, whatever finishes first", async () => {
  const r = await local(4).run((_, i) => `sleep 0.0${4 - i}; echo ${i}`).quiet();
  assertEquals(r.text(), ["0", "1", "2", "3"]);
  assertEquals(r.results.map((x) => x.target), ["local[0]", "local[1]", "local[2]", "local[3]"]);
  assert(r.ok);
});

Deno.test("one failing member never hides the others", async () => {
  const g = local(3).run((_, i) => `echo out${i}; exit $(( ${i} == 1 ? 5 : 0 ))`).quiet();
  const e = await assertRejects(() => g, GroupError);
  assertEquals(e.result.text(), ["out0", "out1", "out2"]);
  assertEquals(e.result.failed.map((r) => [r.target, r.exitCode]), [["local[1]", 5]]);
  assertEquals(e.result.succeeded.length, 2);
  assertMatch(e.message, /1 of 3 commands failed/);
  const r = await g.noThrow();
  assertEquals(r.ok, false);
  assertEquals(r.get(1).failure, "exit");
});

Deno.test("the concurrency window bounds how many run at once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Each member records the number of members running when it starts (upper bound). The
    // first three wait until three run at once (lower bound: a window of 2 never gets there;
    // the 30 s loop is only a safety net) and record how many they saw.
    const start = `ls ${dir} | wc -l >> ${dir}.counts; touch ${dir}/$$`;
    const count = `c=$(ls ${dir} | wc -l)`;
    const barrier =
      `n=0; ${count}; while [ $c -lt 3 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); ${count}; done; echo $c >> ${dir}.met`;
    await local(12).run((_, i) =>
      i < 3 ? `${start}; ${barrier}; sleep 0.2; rm ${dir}/$$` : `${start}; sleep 0.05; rm ${dir}/$$`
    ).concurrency(3).quiet();
    const counts = (await Deno.readTextFile(`${dir}.counts`)).trim().split("\n").map(Number);
    assertEquals(counts.length, 12);
    const met = (await Deno.readTextFile(`${dir}.met`)).trim().split("\n").map(Number);
    assertEquals(met, [3, 3, 3], "the first three never ran together");
    assert(Math.max(...counts) <= 2, `at most 2 others running, saw ${Math.max(...counts)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${dir}.counts`).catch(() => {});
    await Deno.remove(`${dir}.met`).catch(() => {});
  }
  assertEquals(
    (() => {
      try {
        local(2).run("true").concurrency(0);
      } catch (e) {
        return (e as Error).message;
      }
    })(),
    "'concurrency' must be a positive integer or Infinity: received 0",
  );
});

Deno.test("fail-fast stops the others and does not start the rest", async () => {
  const r = await local(4).run((_, i) => i === 0 ? "exit 1" : "sleep 30")
    .concurrency(3).failFast().quiet().noThrow();
  assertEquals(r.results.map((x) => x.failure), ["exit", "killed", "killed", "killed"]);
  assertMatch(r.get(3).reason!, /fail-fast after a failure on local\[0\]/);
});

Deno.test("kill() on a spawned group ends every member's tree; expect waits for all", async () => {
  const g = local(3).run("sleep 100 & echo child $!; echo ready; wait").quiet().spawn();
  const matches = await g.expect(/^child (\d+)$/);
  const pids = matches.map((m) => Number(m.match![1]));
  assertEquals((await g.expect("ready", { timeout: 5000 })).length, 3);
  assert(pids.every(isAlive));
  await g.kill();
  const r = await g.result();
  assertEquals(r.results.map((x) => x.failure), ["killed", "killed", "killed"]);
  assertEquals(pids.filter(isAlive), []);
  await assertRejects(() => g.expect("never"), ExpectError);
});

Deno.test("seq stops at the first failure; par runs everything; both carry every result", async () => {
  const order: string[] = [];
  const s = seq(
    cmd("echo a").quiet().onStdout((l) => order.push(l)),
    () => order.push("fn"),
    cmd("exit 2").quiet(),
    cmd("echo never").quiet().onStdout((l) => order.push(l)),
  );
  const e = await assertRejects(() => s, CompositeError);
  assertEquals(order, ["a", "fn"]);
  assertEquals(e.result.steps.map((x) => x.ok), [true, true, false, false]);
  assert((e.result.steps[3] as FunctionResult).skipped);

  const p = await par(cmd("sleep 0.1; echo x").quiet(), local(2).run("echo y").quiet()).noThrow();
  assert(p.ok);
  assertEquals(report(p).summary.total, 3);
});

Deno.test("kill() on a composite stops running steps and skips the rest", async () => {
  let aborted = false;
  const c = seq(
    par(cmd("sleep 100").quiet(), async (signal: AbortSignal) => {
      await new Promise((r) => signal.addEventListener("abort", r));
      aborted = true;
    }),
    cmd("echo after").quiet(),
  ).spawn();
  await new Promise((r) => setTimeout(r, 100));
  await c.kill();
  const r = await c.result();
  assert(aborted);
  assertEquals(r.ok, false);
  const rep = report(r);
  assertEquals([rep.summary.killed, rep.summary.skipped, rep.summary.succeeded], [1, 1, 1]);
});

Deno.test("report counts ok, failed, timed out and killed, as text and JSON", async () => {
  const a = await local(2).run((_, i) => i ? "exit 3" : "true").quiet().noThrow();
  const t = await cmd("sleep 10").timeout(50).quiet().noThrow();
  const rep = report([a, t], "demo");
  const s = rep.summary;
  assertEquals([s.total, s.succeeded, s.failed, s.timedOut, s.killed], [3, 1, 1, 1, 0]);
  const text = rep.text();
  assertMatch(text, /^demo: 3 total, 1 ok, 1 failed \(0 could not connect\), 1 timed out/);
  assertMatch(text, /local\[1\]\s+exit\s+3/);
  const json = JSON.parse(JSON.stringify(rep));
  assertEquals(json.summary.total, 3);
  assertEquals(json.entries.length, 3);
  let msg = "";
  try {
    // deno-lint-ignore no-explicit-any
    report({} as any);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertMatch(msg, /await the command first/);
});

Deno.test("groups run at most 256 at once by default; expect() on a larger spawned group says why it cannot work", async () => {
  const g = local(300).run("true").quiet();
  assertEquals(g.group.concurrency, 256);
  const running = local(3).run("sleep 0.1").concurrency(2).quiet().spawn();
  let msg = "";
  try {
    await running.expect("x");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertMatch(msg, /only 2 run at once: call \.concurrency\(3\)/);
  await running;
});

Deno.test("a group result gives every target's text, lines and JSON", async () => {
  const r = await local(2).run((_, i) => `printf '{"i": ${i}}\\n'`).quiet();
  assertEquals(r.text(), ['{"i": 0}', '{"i": 1}']);
  assertEquals(r.lines(), [['{"i": 0}'], ['{"i": 1}']]);
  assertEquals(r.json<{ i: number }>().map((x) => x.i), [0, 1]);
  assertEquals(r.byTarget("local[1]")?.json(), { i: 1 });
});
