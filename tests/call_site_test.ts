// A failed command's error names where it was written in the user's code (file:line:col, as
// zx does): ExitError for a command, GroupError for a group; dexp's own frames are skipped.

import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { cmd, ExitError, GroupError, local } from "../mod.ts";
import { callSiteOf } from "../src/process/call_site.ts";

/** This file's name as the call site shows it (relative to the current folder when below). */
const FILE = (() => {
  const path = new URL(import.meta.url).pathname;
  const cwd = Deno.cwd();
  return path.startsWith(cwd + "/") ? path.slice(cwd.length + 1) : path;
})();

function lineOf(marker: string): number {
  const lines = Deno.readTextFileSync(new URL(import.meta.url)).split("\n");
  const i = lines.findIndex((l) => l.includes(marker) && !l.includes("lineOf("));
  assert(i >= 0, marker);
  return i + 1;
}

Deno.test("an awaited failing command's ExitError names the line that awaited it", async () => {
  const e = await assertRejects(async () => {
    await cmd("exit 3").quiet(); // site: await
  }, ExitError);
  const line = lineOf("// site: await");
  assertEquals(e.callSite?.replace(/:\d+$/, ""), `${FILE}:${line}`);
  assertMatch(
    e.message,
    new RegExp(`^Command exited with code 3 .*\\n    at ${FILE}:${line}:\\d+`),
  );
});

Deno.test("text() and spawn() name their own call sites", async () => {
  const t = await assertRejects(() => cmd("exit 4").text(), ExitError); // site: text
  assertEquals(t.callSite?.replace(/:\d+$/, ""), `${FILE}:${lineOf("// site: text")}`);
  const running = cmd("exit 5").quiet().spawn(); // site: spawn
  const s = await assertRejects(() => running.wait(), ExitError);
  assertEquals(s.callSite?.replace(/:\d+$/, ""), `${FILE}:${lineOf("// site: spawn")}`);
});

Deno.test("a GroupError names the line of the group command", async () => {
  const e = await assertRejects(async () => {
    await local(2).run("exit 1").quiet(); // site: group
  }, GroupError);
  const line = lineOf("// site: group");
  assertEquals(e.callSite?.replace(/:\d+$/, ""), `${FILE}:${line}`);
  assertMatch(
    e.message,
    new RegExp(`^2 of 2 commands failed.*\\n    at ${FILE}:${line}:\\d+\\n  - `),
  );
});

Deno.test("callSiteOf skips dexp's frames and the runtime's, and says null when none is left", () => {
  const own = new URL("../src/process/running.ts", import.meta.url).href;
  const stack = [
    "Error",
    `    at new RunningProcess (${own}:140:20)`,
    "    at Object.pull (ext:deno_web/06_streams.js:1:2)",
    "    at async run (file:///home/me/exp.ts:12:5)",
  ].join("\n");
  assertEquals(callSiteOf(stack), "/home/me/exp.ts:12:5");
  assertEquals(callSiteOf(`Error\n    at f (${own}:1:1)`), null);
  assertEquals(callSiteOf(undefined), null);
});
