import { assert, assertEquals } from "../../tests/assert.ts";
import { parseProcStat, readProcStat } from "./proc_stat.ts";

Deno.test("parseProcStat: a command name with spaces and ')' does not shift the fields", () => {
  const line = "42 (a) (b c) Z 7 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5150 0 0\n";
  assertEquals(parseProcStat(line), { state: "Z", ppid: 7, startTicks: 5150, gone: true });
  assertEquals(parseProcStat("garbage"), undefined);
});

Deno.test("readProcStat: this process is alive and its parent is named", {
  ignore: Deno.build.os !== "linux",
}, () => {
  const s = readProcStat(Deno.pid);
  assert(s !== undefined && !s.gone, `stat of self: ${JSON.stringify(s)}`);
  assertEquals(s.ppid, Deno.ppid);
  assertEquals(readProcStat(2 ** 31 - 1), undefined);
});
