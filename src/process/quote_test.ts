import { assertEquals } from "../../tests/assert.ts";
import { cmd } from "./command.ts";
import { toMillis } from "./duration.ts";
import { fillPlaceholders } from "./placeholders.ts";
import { quote, raw, sh } from "./quote.ts";
import { BoundedCapture } from "./capture.ts";

const NASTY = ["'; echo INJECTED #", "$(id)", "`id`", "a\nb", "*", "日本", "", "it's", "\\"];

Deno.test("quote leaves plain words alone and single-quotes the rest", () => {
  assertEquals(quote("abc-1.2/x"), "abc-1.2/x");
  assertEquals(quote(""), "''");
  assertEquals(quote("a b"), "'a b'");
  assertEquals(quote("it's"), `'it'"'"'s'`);
  assertEquals(quote(42), "42");
});

for (const shell of ["/bin/sh", "/bin/bash"]) {
  Deno.test(`sh-quoted values arrive as literal arguments under ${shell}`, async () => {
    const line = sh`printf '<%s>\n' ${NASTY} ${"single"}`;
    const r = await cmd([shell, "-c", line]).quiet();
    assertEquals(r.stdout, [...NASTY, "single"].map((a) => `<${a}>\n`).join(""));
  });
}

Deno.test("raw() inserts shell text unquoted", () => {
  assertEquals(sh`ls ${raw("*.log")} | wc -l ${"a b"}`, "ls *.log | wc -l 'a b'");
});

Deno.test("durations parse numbers and text", () => {
  assertEquals(toMillis(250), 250);
  assertEquals(toMillis("1m30s"), 90_000);
  assertEquals(toMillis("1.5s"), 1500);
  assertEquals(toMillis("200ms"), 200);
});

Deno.test("placeholders are filled, unknown ones are an error", () => {
  assertEquals(fillPlaceholders("r/{host}/{i}.log", { host: "n1", i: "3" }), "r/n1/3.log");
  assertEquals(fillPlaceholders("{{literal}}", {}), "{literal}");
  let msg = "";
  try {
    fillPlaceholders("{hots}", { host: "x" });
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, `Unknown placeholder '{hots}' in "{hots}": use one of {host}`);
});

Deno.test("bounded capture keeps head and tail exactly", () => {
  const c = new BoundedCapture(8);
  const enc = new TextEncoder();
  for (const part of ["abc", "def", "ghi", "jkl", "mn"]) c.push(enc.encode(part));
  assertEquals(c.total, 14);
  assertEquals(c.dropped, 6);
  assertEquals(c.text(), "abcd\n[... dexp dropped 6 bytes of output ...]\nklmn");
});
