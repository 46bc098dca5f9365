// Report tables keep one line per row, whatever the commands hold.
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { cmd } from "../process/mod.ts";
import { oneLine } from "./_one_line.ts";
import { report } from "./report.ts";

Deno.test("a multi-line command stays on one line of the report table", async () => {
  const multi = await cmd("echo one\necho two\n\techo three").quiet();
  const single = await cmd("true").quiet();
  const text = report([multi, single]).text();
  const lines = text.split("\n");
  // Title, durations, header, then one line per result.
  assertEquals(lines.length, 5, text);
  assertStringIncludes(text, "echo one⏎echo two⏎ echo three");
  const long = await cmd(`echo ${"x".repeat(100)}\necho y`).quiet();
  const row = report(long).text().split("\n")[3];
  assert(row.endsWith("…"), row);
  assertEquals([...row.slice(row.indexOf("echo"))].length, 60);
});

Deno.test("oneLine shows line breaks and control characters, cut with an ellipsis", () => {
  assertEquals(oneLine("a\nb\r\nc\rd"), "a⏎b⏎c⏎d");
  assertEquals(oneLine("a\tb\x1b[31m"), "a b\\x1b[31m");
  assertEquals(oneLine("abcdef", 4), "abc…");
  assertEquals(oneLine("abcd", 4), "abcd");
  assertEquals(oneLine("ééééé", 3), "éé…");
});
