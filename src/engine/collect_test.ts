// The text table of a run keeps one line per row.
import { assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { toText } from "./collect.ts";

Deno.test("toText keeps one line per row: line breaks as ⏎, long cells cut with …", () => {
  const text = toText({
    columns: ["cmd", "n"],
    rows: [{ cmd: "make\nmake install", n: 1 }, { cmd: "x".repeat(50), n: 2 }],
  }, 20);
  const lines = text.split("\n");
  assertEquals(lines.length, 3, text);
  assertStringIncludes(lines[1], "make⏎make install");
  assertStringIncludes(lines[2], "x".repeat(19) + "…");
  // Columns stay aligned (widths counted in characters, not UTF-16 units).
  assertEquals(lines.map((l) => [...l].slice(22).join("")), ["n", "1", "2"]);
});
