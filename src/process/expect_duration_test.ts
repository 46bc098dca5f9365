// Issue 10 item 4: expect() takes a Duration like every other timeout.
import { assert, assertRejects } from "../../tests/assert.ts";
import { cmd } from "./command.ts";
import { ExpectError } from "./errors.ts";

Deno.test("expect() takes a Duration and names it in its message", async () => {
  const p = cmd(["sleep", "30"]).quiet().spawn();
  try {
    const e = await assertRejects(() => p.expect("never", { timeout: "50ms" }), ExpectError);
    assert(e.message.includes("within 50ms"), e.message);
  } finally {
    await p.kill();
  }
});
