// Issue 10 item 4: an experiment's timeout is a Duration; its spec means what sweep() reads.
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { sweep } from "../sweep/mod.ts";
import { defineExperiment } from "./registry.ts";

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
