import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { placeOnSlot, SlotBoard, slotValues } from "./slots.ts";

Deno.test("slotValues: a count or named slots; bad lists refused", () => {
  assertEquals(slotValues(3), ["0", "1", "2"]);
  assertEquals(slotValues(["gpu0", "gpu1"]), ["gpu0", "gpu1"]);
  assertThrows(() => slotValues(0), RangeError, "positive integer");
  assertThrows(() => slotValues([]), RangeError, "at least one");
  assertThrows(() => slotValues(["a", "a"]), RangeError, "twice");
  assertThrows(() => slotValues(["a b"]), RangeError, "word");
});

Deno.test("placeOnSlot: {slot} in the command, the prefix and the env; unknown vars refused", () => {
  const p = placeOnSlot({
    command: "run {k} on {host}",
    vars: { k: "v1", host: "n1" },
    slot: "1",
    prefix: "numactl -N {slot}",
    env: { CUDA_VISIBLE_DEVICES: "{slot}" },
  });
  assertEquals(p.command, "numactl -N 1 sh -c 'run v1 on n1'");
  assertEquals(p.env, { DEXP_SLOT: "1", CUDA_VISIBLE_DEVICES: "1" });
  assertThrows(
    () => placeOnSlot({ command: "x {nope}", vars: {}, slot: "0" }),
    RangeError,
    "{nope}",
  );
  assertThrows(
    () => placeOnSlot({ command: "x", vars: {}, slot: "0", env: { "A-B": "1" } }),
    TypeError,
    "A-B",
  );
});

Deno.test("SlotBoard: never two owners on one slot", () => {
  const b = new SlotBoard();
  b.setMachine("m", ["0", "1"]);
  assertEquals(b.take("m", "j1"), "0");
  assertEquals(b.take("m", "j2"), "1");
  assertEquals(b.take("m", "j3"), null);
  assertThrows(() => b.occupy("m", "0", "j3"), Error, "held by");
  b.free("m", "0");
  assertEquals(b.freeCount("m"), 1);
  assertEquals(b.take("m", "j3"), "0");
  assertEquals(b.busy("m"), 2);
});
