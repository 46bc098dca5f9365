// Issue 10 item 4: a group command has Command's conveniences, a group result its times, and
// `ok` is a boolean (counts are `succeeded`/`failed`).
import { assert, assertEquals } from "../../tests/assert.ts";
import { local } from "./group.ts";
import { report } from "./report.ts";

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
