// Issue 10 item 4: ConnectionParams timeouts are Durations, sent to ssh in whole seconds.
import { assert, assertEquals, assertThrows } from "../../tests/assert.ts";
import { checkParams, commonOptions } from "./params.ts";
import { loginDeadline } from "./connections.ts";

function option(args: string[], name: string): string[] {
  return args.filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
}

Deno.test("connectTimeout and controlPersist are Durations, sent to ssh in whole seconds", () => {
  assertEquals(option(commonOptions({ connectTimeout: "7s" }), "ConnectTimeout"), ["7"]);
  assertEquals(option(commonOptions({ connectTimeout: 2500 }), "ConnectTimeout"), ["3"]);
  assertEquals(option(commonOptions({}), "ConnectTimeout"), ["10"]);
  assertEquals(loginDeadline({ connectTimeout: "1m" }), (60 * 3 + 5) * 1000);
  assertEquals(checkParams({ controlPersist: "10m" }).controlPersist, "10m");
});

Deno.test("a bare number of seconds (the old unit) is refused with the fix, not read as ms", () => {
  const e = assertThrows(() => checkParams({ connectTimeout: 5 }), RangeError);
  assert(e.message.includes(`write "5s" for seconds`), e.message);
  assertThrows(() => checkParams({ controlPersist: "0s" }), RangeError, "at least 1 s");
  assertThrows(() => checkParams({ connectTimeout: "soon" }), RangeError, "'connectTimeout'");
});
