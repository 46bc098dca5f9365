import { assertEquals } from "../../tests/assert.ts";
import { formatDuration } from "./duration.ts";

Deno.test("formatDuration: the unit grows with the value, two units at most", () => {
  assertEquals(
    [0, 850, 1000, 12_345, 59_940, 60_000, 245_000, 3_600_000, 7_380_000, 49 * 3_600_000].map(
      formatDuration,
    ),
    ["0ms", "850ms", "1.0s", "12.3s", "59.9s", "1m00s", "4m05s", "1h00m", "2h03m", "2d01h"],
  );
  assertEquals([-1, NaN, Infinity].map(formatDuration), ["?", "?", "?"]);
});
