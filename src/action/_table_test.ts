import { assertEquals } from "../../tests/assert.ts";
import { textTable } from "./_table.ts";

Deno.test("textTable: columns as wide as their widest cell in code points, no trailing space", () => {
  assertEquals(
    textTable([["a", "bb", "c"], ["ééé", "", "x"], ["", "y", ""]]),
    ["a    bb  c", "ééé      x", "     y"].join("\n"),
  );
  assertEquals(textTable([]), "");
});
