import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { geom, linspace, powers, range } from "./ranges.ts";

Deno.test("range", () => {
  assertEquals(range(4), [0, 1, 2, 3]);
  assertEquals(range(1, 2, 0.25), [1, 1.25, 1.5, 1.75]);
  assertEquals(range(0, 0.3, 0.1), [0, 0.1, 0.2]);
  assertEquals(range(5, 0, -2), [5, 3, 1]);
  assertEquals(range(3, 1), []);
  assertThrows(() => range(0, 1, 0), RangeError, "'step' must not be 0");
  assertThrows(() => range(0, Infinity), RangeError, "'end' must be a finite number");
});

Deno.test("linspace", () => {
  assertEquals(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
  assertEquals(linspace(0, 1, 4), [0, 0.333333333333, 0.666666666667, 1]);
  assertEquals(linspace(3, 7, 1), [3]);
  assertThrows(() => linspace(0, 1, 0), RangeError, "'n' must be a positive integer: received 0");
});

Deno.test("geom", () => {
  assertEquals(geom(1, 1000, 4), [1, 10, 100, 1000]);
  assertEquals(geom(1, 1024, 11), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
  assertEquals(geom(-1, -8, 4), [-1, -2, -4, -8]);
  assertThrows(() => geom(0, 8, 3), RangeError, "non-zero");
  assertThrows(() => geom(-1, 8, 3), RangeError, "same sign");
  assertThrows(() => geom(1, 8, 1.5), RangeError, "'n'");
});

Deno.test("powers", () => {
  assertEquals(powers(2, 0, 4), [1, 2, 4, 8, 16]);
  assertEquals(powers(10, -2, 1), [0.01, 0.1, 1, 10]);
  assertThrows(() => powers(2, 3, 1), RangeError, "'from'");
});
