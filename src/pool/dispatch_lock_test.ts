import assert from "node:assert/strict";
import { DispatcherBusyError, DispatchLock, readHolder } from "./dispatch_lock.ts";

Deno.test("DispatchLock: a second holder is refused with the first one's pid; release lets it in", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await DispatchLock.acquire(dir);
    const h = await readHolder(dir);
    assert.equal(h?.pid, Deno.pid);
    const e = await DispatchLock.acquire(dir).then(() => null, (x) => x);
    assert.ok(e instanceof DispatcherBusyError);
    assert.match(e.message, new RegExp(`pid ${Deno.pid} on host`));
    await a.release();
    assert.equal(await readHolder(dir), null);
    const b = await DispatchLock.acquire(dir);
    await b.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
