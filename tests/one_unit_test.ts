// Issue 10 item 4: one name, one unit, one shape per concept.
import { cmd } from "../src/process/command.ts";
import { ExpectError } from "../src/process/errors.ts";
import { local } from "../src/action/group.ts";
import { report } from "../src/action/report.ts";
import { checkParams, commonOptions } from "../src/ssh/params.ts";
import { loginDeadline } from "../src/ssh/connections.ts";
import { sweep } from "../src/sweep/sweep.ts";
import { defineExperiment } from "../src/engine/registry.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";

function option(args: string[], name: string): string[] {
  return args.filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
}

Deno.test("connectTimeout and controlPersist are Durations, sent to ssh in whole seconds", () => {
  assertEquals(option(commonOptions({ connectTimeout: "7s" }), "ConnectTimeout"), ["7"]);
  assertEquals(option(commonOptions({ connectTimeout: 2500 }), "ConnectTimeout"), ["3"]);
  assertEquals(option(commonOptions({}), "ConnectTimeout"), ["10"]);
  assertEquals(loginDeadline({ connectTimeout: "1m" }), (60 * 3 + 5) * 1000);
  assertEquals(checkParams({ controlPersist: "10m" }).controlPersist, "10m");
});

Deno.test("a bare number of seconds (the old unit) is refused with the fix, not read as ms", () => {
  const e = assertThrows(() => checkParams({ connectTimeout: 5 }), RangeError);
  assert(e.message.includes(`write "5s" for seconds`), e.message);
  assertThrows(() => checkParams({ controlPersist: "0s" }), RangeError, "at least 1 s");
  assertThrows(() => checkParams({ connectTimeout: "soon" }), RangeError, "'connectTimeout'");
});

Deno.test("expect() takes a Duration and names it in its message", async () => {
  const p = cmd(["sleep", "30"]).quiet().spawn();
  try {
    const e = await assertRejects(() => p.expect("never", { timeout: "50ms" }), ExpectError);
    assert(e.message.includes("within 50ms"), e.message);
  } finally {
    await p.kill();
  }
});

Deno.test("an experiment timeout is a Duration; the registered one says its unit", () => {
  assertEquals(defineExperiment("t", { timeout: "1m30s" }, () => {}).timeoutMs, 90_000);
  assertEquals(defineExperiment("t", { timeout: 250 }, () => {}).timeoutMs, 250);
  assertEquals(defineExperiment("t", {}, () => {}).timeoutMs, undefined);
  assertThrows(() => defineExperiment("t", { timeout: "later" }, () => {}), RangeError, "timeout");
});

Deno.test("a scalar in a spec is a constant in experiment() as in sweep()", () => {
  const spec = { model: "resnet", lr: [0.1, 0.01] };
  const expected = [{ model: "resnet", lr: 0.1 }, { model: "resnet", lr: 0.01 }];
  assertEquals([...sweep(spec)], expected);
  assertEquals([...defineExperiment("s", { params: spec }, () => {}).params], expected);
});

Deno.test("a group command has text/lines/json/code like a command", async () => {
  const g = local(2).run((_t, i) => ["sh", "-c", `echo '{"i":${i}}'; exit ${i}`]).quiet();
  assertEquals(await g.code(), [0, 1]);
  const ok = local(2).run((_t, i) => ["echo", `{"i":${i}}`]);
  assertEquals(await ok.text(), ['{"i":0}', '{"i":1}']);
  assertEquals(await ok.lines(), [['{"i":0}'], ['{"i":1}']]);
  assertEquals(await ok.json<{ i: number }>(), [{ i: 0 }, { i: 1 }]);
});

Deno.test("a group result has start, end and duration covering its targets", async () => {
  const r = await local(2).run(["sleep", "0.05"]).quiet();
  assert(r.start.getTime() <= Math.min(...r.results.map((x) => x.start.getTime())));
  assert(r.end.getTime() >= Math.max(...r.results.map((x) => x.end.getTime())));
  assertEquals(r.duration, r.end.getTime() - r.start.getTime());
  assertEquals(r.toJSON().duration, r.duration);
});

Deno.test("ok is a boolean everywhere; counts are succeeded and failed", async () => {
  const r = await local(2).run((_t, i) => ["sh", "-c", `exit ${i}`]).quiet().noThrow();
  assertEquals(typeof r.ok, "boolean");
  const s = report(r).summary;
  assertEquals([s.succeeded, s.failed], [1, 1]);
  assertEquals("ok" in s, false);
});
