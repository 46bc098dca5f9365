import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { ConnectWindow } from "./connect_window.ts";

Deno.test("a dropped login halves the connect window, once per burst", async () => {
  const w = new ConnectWindow(8);
  const tickets = await Promise.all(Array.from({ length: 8 }, () => w.acquire()));
  w.release(tickets[0], "dropped");
  assertEquals(w.limit, 4);
  // Dropped in the same burst (taken before the decrease): no second halving.
  w.release(tickets[1], "dropped");
  w.release(tickets[2], "dropped");
  assertEquals(w.stats, { ceiling: 8, limit: 4, smallest: 4, shrinks: 1 });
  // A login started after the decrease and dropped halves it again.
  for (let i = 3; i < 8; i++) w.release(tickets[i], "failed");
  const t = await w.acquire();
  w.release(t, "dropped");
  assertEquals(w.stats, { ceiling: 8, limit: 2, smallest: 2, shrinks: 2 });
});

Deno.test("a shrunk connect window admits only its limit, and successes grow it back", async () => {
  const w = new ConnectWindow(4);
  const first = await Promise.all(Array.from({ length: 4 }, () => w.acquire()));
  w.release(first[0], "dropped");
  w.release(first[1], "failed");
  // Limit 2, two still held: a newcomer waits until one of them ends.
  let admitted = 0;
  const waiting = [w.acquire(), w.acquire()].map((p) => p.then((t) => (admitted++, t)));
  await Promise.resolve();
  assertEquals(admitted, 0);
  w.release(first[2], "ok");
  await waiting[0];
  assertEquals(admitted, 1);
  w.release(first[3], "ok");
  await waiting[1];
  // Two successes at limit 2 add one: 3; more bring it to the ceiling and no further.
  assertEquals(w.limit, 3);
  for (const t of await Promise.all(waiting)) w.release(t, "ok");
  for (let i = 0; i < 10; i++) w.release(await w.acquire(), "ok");
  assertEquals(w.stats, { ceiling: 4, limit: 4, smallest: 2, shrinks: 1 });
});

Deno.test("a connect window's ceiling must be a positive integer", () => {
  assertThrows(
    () => new ConnectWindow(0),
    RangeError,
    "'connectWindow' must be a positive integer: received 0",
  );
});
