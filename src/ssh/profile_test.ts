import { assertEquals } from "../../tests/assert.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
  return "no error";
}
import { droppedLogin } from "./connections.ts";
import { checkParams, commonOptions } from "./params.ts";
import { FAST_KEX, kexOptions, persistSeconds } from "./profile.ts";

Deno.test("kex 'fast' adds KexAlgorithms with curve25519 first; the default adds nothing", () => {
  assertEquals(kexOptions({ kex: "fast" }), ["-o", `KexAlgorithms=${FAST_KEX}`]);
  assertEquals(kexOptions({ kex: "default" }), []);
  const args = commonOptions({ kex: "fast", options: { KexAlgorithms: "mine" } });
  // The user's own option comes first, and ssh keeps the first value.
  assertEquals(
    args.indexOf("KexAlgorithms=mine") < args.indexOf(`KexAlgorithms=${FAST_KEX}`),
    true,
  );
});

Deno.test("persist takes a duration or ms, in whole seconds; bad values are refused", () => {
  assertEquals(persistSeconds({ persist: "10m" }), 600);
  assertEquals(persistSeconds({ persist: 1500 }), 2);
  assertEquals(persistSeconds({ persist: 0 }), 0);
  assertEquals(
    errorOf(() => checkParams({ persist: "ten minutes" }, "with()")),
    `RangeError: 'persist' must be a number of ms or text like "500ms", "30s", "1m30s": received "ten minutes" (in with())`,
  );
  assertEquals(
    errorOf(() => checkParams({ kex: "quick" as "fast" }, "with()")),
    `RangeError: 'kex' must be "fast" or "default" in with(): received "quick"`,
  );
});

Deno.test("a login dropped before authentication is told apart from other failures", () => {
  assertEquals(
    droppedLogin("kex_exchange_identification: Connection closed by remote host\n"),
    true,
  );
  assertEquals(
    droppedLogin("kex_exchange_identification: read: Connection reset by peer\r\n"),
    true,
  );
  assertEquals(droppedLogin("Connection closed by 127.0.0.1 port 22\n"), true);
  assertEquals(droppedLogin("dexp-dash@127.0.0.1: Permission denied (publickey).\n"), false);
  assertEquals(droppedLogin("Host key verification failed.\n"), false);
  assertEquals(droppedLogin("ssh: connect to host 127.0.0.1 port 22: Connection refused\n"), false);
});
