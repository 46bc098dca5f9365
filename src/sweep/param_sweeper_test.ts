import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ParamSweeper } from "./param_sweeper.ts";
import { sweep } from "./sweep.ts";
import { range } from "./ranges.ts";
import { encodeRec, journalHeader } from "./_format.ts";
import { currentOwner, ownerKey } from "./owner.ts";
import { combinationId } from "./combination.ts";
import { SweepFormatError } from "./journal.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "dexp-sweep-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function journalLines(dir: string): string[] {
  return Deno.readTextFileSync(`${dir}/journal`).split("\n").filter((l) => l !== "");
}

Deno.test("ParamSweeper: claims in input order, done/skip/cancel, stats and lists", async () => {
  await using tmp = await tempDir();
  await using s = await ParamSweeper.open(tmp.path, sweep({ a: [1, 2, 3, 4] }));
  assertEquals(await s.next(), { a: 1 });
  assertEquals(await s.nextMany(2), [{ a: 2 }, { a: 3 }]);
  assertEquals(await s.done({ a: 1 }), true);
  assertEquals(await s.done({ a: 1 }), false); // already done
  assertEquals(await s.skip({ a: 2 }, "too big"), true);
  assertEquals(await s.cancel({ a: 3 }), true);
  assertEquals(await s.cancel({ a: 3 }), false); // not claimed any more
  assertEquals(await s.stateOf({ a: 2 }), { state: "skipped", reason: "too big" });
  assertEquals(await s.stateOf({ a: 3 }), { state: "todo" });
  assertEquals(await s.remaining(), [{ a: 3 }, { a: 4 }]);
  // A cancelled combination comes back first (input order).
  assertEquals(await s.next(), { a: 3 });
  const claims = await s.inProgress();
  assertEquals(claims.map((c) => [c.combination, c.mine, c.owner.pid, c.liveness]), [
    [{ a: 3 }, true, Deno.pid, "alive"],
  ]);
  const st = await s.stats();
  assertEquals([st.total, st.todo, st.inProgress, st.done, st.skipped, st.remaining], [
    4,
    1,
    1,
    1,
    1,
    2,
  ]);
  assertEquals(st.doneRatio, 0.25);
  assertEquals(await s.list("done"), [{ a: 1 }]);
  // Direct completion of a todo combination (never claimed) is accepted.
  assertEquals(await s.done({ a: 4 }), true);
  assertEquals(await s.next(), null);
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => s.done({ a: 99 } as any), RangeError, "not part of this sweep");
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => s.list("nope" as any), RangeError, "'state'");
  await assertRejects(
    () => s.nextMany(0),
    RangeError,
    "'n' must be a positive integer: received 0",
  );
});

Deno.test("ParamSweeper: for await marks done, break cancels, claims({ onExit: 'skip' }) skips", async () => {
  await using tmp = await tempDir();
  await using s = await ParamSweeper.open(tmp.path, sweep({ i: range(6) }));
  const seen: number[] = [];
  for await (const c of s) {
    seen.push(c.i as number);
    if (c.i === 2) break;
  }
  assertEquals(seen, [0, 1, 2]);
  assertEquals((await s.stats()).done, 2);
  assertEquals(await s.stateOf({ i: 2 }), { state: "todo" });
  try {
    for await (const c of s.claims({ onExit: "skip", reason: "boom" })) {
      if (c.i === 3) throw new Error("boom");
    }
  } catch (e) {
    assertEquals((e as Error).message, "boom");
  }
  assertEquals(await s.stateOf({ i: 2 }), { state: "done" });
  assertEquals(await s.stateOf({ i: 3 }), { state: "skipped", reason: "boom" });
  // A body that decides itself keeps its decision.
  for await (const c of s) {
    if (c.i === 4) await s.skip(c, "decided");
  }
  assertEquals(await s.stateOf({ i: 4 }), { state: "skipped", reason: "decided" });
  assertEquals(await s.stateOf({ i: 5 }), { state: "done" });
});

Deno.test("ParamSweeper.run: onError cancel rethrows, skip records the message", async () => {
  await using tmp = await tempDir();
  await using s = await ParamSweeper.open(tmp.path, sweep({ i: range(4) }));
  const err = await assertRejects(
    () =>
      s.run((c) => {
        if (c.i === 1) throw new Error("bad input");
      }),
    Error,
    "bad input",
  );
  assert(err);
  assertEquals(await s.stateOf({ i: 1 }), { state: "todo" });
  const r = await s.run((c) => {
    if (c.i === 1) throw new Error("bad input");
  }, { onError: "skip" });
  assertEquals(r, { done: 2, skipped: 1, stale: 0 });
  assertEquals(await s.stateOf({ i: 1 }), { state: "skipped", reason: "bad input" });
});

Deno.test("ParamSweeper: close puts unfinished claims back; a second sweeper sees it all", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(5) });
  const a = await ParamSweeper.open(tmp.path, combos);
  const b = await ParamSweeper.open(tmp.path, combos);
  const [x, y] = await a.nextMany(2);
  await a.done(x);
  assertEquals(await b.next(), { i: 2 }); // a's claims are seen
  await a.close();
  await a.close(); // twice is fine
  await assertRejects(() => a.next(), Error, "closed");
  assertEquals(await b.stateOf(y), { state: "todo" });
  assertEquals(await b.next(), { i: 1 });
  await b.close();
});

Deno.test("exactly once: a worker presumed dead cannot complete a combination taken over", async () => {
  await using tmp = await tempDir();
  let clock = 1_000_000;
  const now = () => clock;
  const combos = [{ k: "x" }, { k: "y" }];
  // A lives "on another host": only its lease keeps its claims.
  await using a = await ParamSweeper.open(tmp.path, combos, {
    host: "far-away",
    leaseMs: 10_000,
    now,
  });
  await using b = await ParamSweeper.open(tmp.path, combos, { leaseMs: 10_000, now });
  assertEquals(await a.next(), { k: "x" });
  assertEquals(await b.next(), { k: "y" }); // A's lease is valid: x stays A's
  clock += 10_001; // A stops renewing (paused, partitioned...)
  await b.done({ k: "y" });
  assertEquals(await b.next(), { k: "x" }); // reaped and claimed again
  assertEquals(await a.done({ k: "x" }), false); // stale: B holds it now
  assertEquals(await b.done({ k: "x" }), true);
  assertEquals(await a.done({ k: "x" }), false);
  const lines = journalLines(tmp.path);
  const dones = lines.filter((l) => l.startsWith("D\t") && l.includes('{"k":"x"}'));
  assertEquals(dones.length, 1);
  assert(
    lines.some((l) => l.startsWith("R\t") && l.includes("far-away") && l.includes("lease-expired")),
  );
});

Deno.test("exactly once: a reaped claim nobody took again can still be completed by its worker", async () => {
  await using tmp = await tempDir();
  let clock = 1_000_000;
  const now = () => clock;
  const combos = [{ k: "x" }];
  await using a = await ParamSweeper.open(tmp.path, combos, {
    host: "far-away",
    leaseMs: 10_000,
    now,
  });
  await using b = await ParamSweeper.open(tmp.path, combos, { leaseMs: 10_000, now });
  await a.next();
  clock += 20_000;
  assertEquals(await b.next(), { k: "x" }); // reaps A, claims x
  await b.cancel({ k: "x" }); // B gives it back without running it
  // A's token is not the last claim's token any more: rejected.
  assertEquals(await a.done({ k: "x" }), false);
  await using c = await ParamSweeper.open(tmp.path, combos, {
    host: "far-away",
    leaseMs: 10_000,
    now,
  });
  assertEquals(await c.next(), { k: "x" });
  clock += 20_000;
  await b.refresh();
  assertEquals(await b.reset("inProgress"), 1); // admin releases C's claim
  assertEquals(await c.done({ k: "x" }), true); // nobody claimed since: accepted
});

Deno.test("dead owners on this host are reaped at once", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(3) });
  await using s = await ParamSweeper.open(tmp.path, combos, { leaseMs: 40 });
  // Forge a claim by a process that no longer exists on this host.
  const child = new Deno.Command("true").spawn();
  await child.status;
  const ghost = ownerKey({ ...currentOwner(), pid: child.pid, start: 12345 });
  const now = Date.now();
  const f = await Deno.open(`${tmp.path}/journal`, { append: true });
  await f.write(new TextEncoder().encode(
    encodeRec({ op: "L", at: now, owner: ghost, until: now + 3_600_000 }) +
      encodeRec({ op: "C", t: 100, at: now, owner: ghost, id: combinationId({ i: 0 }) }),
  ));
  f.close();
  assertEquals((await s.stats()).inProgress, 1); // held by the ghost...
  assertEquals(await s.next(), { i: 0 }); // ...whose pid is gone: back to todo, claimed first
  const lines = journalLines(tmp.path);
  assert(lines.some((l) => l.startsWith("R\t") && l.includes("dead-pid")));
});

Deno.test("the lease is renewed while the owner lives: its claims are not stolen", async () => {
  await using tmp = await tempDir();
  let clock = 1_000_000;
  const now = () => clock;
  const combos = [{ k: "x" }, { k: "y" }];
  // A lives "on another host": only its lease (40 ms of the fake clock) protects its claim.
  // Its renewal timer is injected: the test ticks it, no real time passes.
  const ticks: (() => void)[] = [];
  const timers = {
    start: (tick: () => void, ms: number) => {
      assertEquals(ms, 10); // a quarter of the lease
      ticks.push(tick);
      return ticks.length - 1;
    },
    clear: (_: unknown) => {},
  };
  await using a = await ParamSweeper.open(tmp.path, combos, {
    host: "far-away",
    leaseMs: 40,
    now,
    timers,
  });
  await using b = await ParamSweeper.open(tmp.path, combos, { leaseMs: 40, now });
  assertEquals(ticks.length, 1);
  const leases = () =>
    journalLines(tmp.path).filter((l) => l.startsWith("L\t") && l.includes("far-away")).length;
  assertEquals(await a.next(), { k: "x" });
  assertEquals(await b.next(), { k: "y" });
  const first = leases();
  for (let round = 0; round < 4; round++) {
    clock += 30; // a quarter of the lease is left: the tick renews it
    // The tick's write and B's next() take turns in this process's queue of the directory,
    // in call order: the renewal is on disk before B looks.
    ticks[0]();
    assertEquals(await b.next(), null, `round ${round}: A's claim was stolen`);
    assertEquals(leases(), first + round + 1, `round ${round}: one renewal per tick`);
  }
  // A tick while the lease is fresh writes nothing.
  ticks[0]();
  assertEquals(await b.next(), null);
  assertEquals(leases(), first + 4);
  // The fake clock is now 120 ms past A's first lease: only renewals kept the claim.
  assertEquals(await a.done({ k: "x" }), true);
});

Deno.test("without renewal the lease expires and another host's claim is taken over", async () => {
  await using tmp = await tempDir();
  let clock = 1_000_000;
  const now = () => clock;
  const combos = [{ k: "x" }, { k: "y" }];
  const timers = { start: () => 0, clear: () => {} }; // A's renewal never ticks
  await using a = await ParamSweeper.open(tmp.path, combos, {
    host: "far-away",
    leaseMs: 40,
    now,
    timers,
  });
  await using b = await ParamSweeper.open(tmp.path, combos, { leaseMs: 40, now });
  assertEquals(await a.next(), { k: "x" });
  assertEquals(await b.next(), { k: "y" });
  clock += 30;
  assertEquals(await b.next(), null); // still within the lease
  clock += 30;
  assertEquals(await b.next(), { k: "x" }); // expired: back to todo, claimed by B
});

Deno.test("a journal cut in the middle of its last record opens, ignores it and is repaired", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(4) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    await s.done({ i: 0 });
    await s.done({ i: 1 });
  }
  const path = `${tmp.path}/journal`;
  const text = Deno.readTextFileSync(path);
  Deno.writeTextFileSync(path, text.slice(0, text.length - 15)); // tear the last line
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    assertEquals((await s.stats()).done, 1);
    assertEquals(Deno.readTextFileSync(path).endsWith("\n"), true); // cut off by the writer
    assertEquals(await s.done({ i: 1 }), true);
  }
  // A damaged line in the middle (bad checksum) is skipped, counted, never fatal.
  const lines = Deno.readTextFileSync(path).split("\n");
  const k = lines.findIndex((l) => l.startsWith("D\t"));
  lines[k] = lines[k].replace('"i":0', '"i":3');
  Deno.writeTextFileSync(path, lines.join("\n"));
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    assertEquals(await s.list("done"), [{ i: 1 }]);
  }
});

Deno.test("the set of combinations may grow and shrink between runs", async () => {
  await using tmp = await tempDir();
  {
    await using s = await ParamSweeper.open(tmp.path, sweep({ a: [1, 2] }));
    for await (const _ of s) { /* all done */ }
  }
  {
    await using s = await ParamSweeper.open(tmp.path, sweep({ a: [1, 2, 3] }));
    const st = await s.stats();
    assertEquals([st.total, st.done, st.todo], [3, 2, 1]);
    assertEquals(await s.next(), { a: 3 });
  }
  {
    await using s = await ParamSweeper.open(tmp.path, sweep({ a: [2, 3] }));
    const st = await s.stats();
    assertEquals([st.total, st.done, st.todo], [2, 1, 1]); // a=1 is out of the stats
  }
  const lines = journalLines(tmp.path);
  assert(lines.some((l) => l.startsWith("D\t") && l.includes('{"a":1}'))); // still recorded
  {
    await using s = await ParamSweeper.open(tmp.path, sweep({ a: [1, 2, 3] }));
    assertEquals((await s.stats()).done, 2); // a=1 counts again
  }
});

Deno.test("compaction: processes reading incrementally notice the new journal", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(300) });
  await using a = await ParamSweeper.open(tmp.path, combos, { compactBytes: 2048 });
  await using b = await ParamSweeper.open(tmp.path, combos, { compactBytes: 2048 });
  await a.skip({ i: 299 }, "why\tnot\n");
  const taken = new Set<number>();
  for (let k = 0; k < 149; k++) {
    for (const s of [a, b]) {
      const c = await s.next();
      assert(c && !taken.has(c.i as number), `claimed twice: ${JSON.stringify(c)}`);
      taken.add(c.i as number);
      assert(await s.done(c));
    }
  }
  assert(a.compactions + b.compactions >= 5, `compactions: ${a.compactions} + ${b.compactions}`);
  assertEquals(taken.size, 298);
  for (const s of [a, b]) {
    const st = await s.stats();
    assertEquals([st.done, st.skipped, st.todo], [298, 1, 1]);
  }
  assertEquals(await b.stateOf({ i: 299 }), { state: "skipped", reason: "why\tnot\n" });
  const snapshot = Deno.readTextFileSync(`${tmp.path}/snapshot`);
  assert(snapshot.startsWith("dexp-sweep-snapshot\t1\t"));
  // A fresh process sees the same state from snapshot + journal.
  await using c = await ParamSweeper.open(tmp.path, combos);
  assertEquals(await c.next(), { i: 298 });
});

Deno.test("a compaction that stopped between its two renames loses nothing", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(50) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos, { compactBytes: 1024 });
    while (s.compactions === 0) await s.done((await s.next())!);
  }
  // The snapshot covers journal epoch 1 up to some offset; put back an epoch-1 journal that
  // holds more records after that offset, as if the journal rename had not happened.
  const meta = JSON.parse(
    Deno.readTextFileSync(`${tmp.path}/snapshot`).split("\n")[0].split("\t")[2],
  );
  assertEquals(meta.covers.epoch, 1);
  const header = journalHeader(1, 0);
  const pad = "#".repeat(meta.covers.offset - header.length - 1) + "\n";
  const extra = encodeRec({ op: "D", t: 0, at: Date.now(), id: combinationId({ i: 49 }) });
  Deno.writeTextFileSync(`${tmp.path}/journal`, header + pad + extra);
  const done =
    Deno.readTextFileSync(`${tmp.path}/snapshot`).split("\n").filter((l) => l.startsWith("E\t2"))
      .length;
  await using s = await ParamSweeper.open(tmp.path, combos);
  assertEquals((await s.stats()).done, done + 1);
  assertEquals(await s.stateOf({ i: 49 }), { state: "done" });
});

Deno.test("a directory from a newer dexp or with mixed files is refused with a clear error", async () => {
  await using tmp = await tempDir();
  Deno.writeTextFileSync(`${tmp.path}/journal`, "dexp-sweep-journal\t99\t1\t0\n");
  await assertRejects(
    () => ParamSweeper.open(tmp.path, [{ a: 1 }]),
    SweepFormatError,
    "upgrade dexp",
  );
  Deno.writeTextFileSync(`${tmp.path}/journal`, journalHeader(3, 0));
  await assertRejects(
    () => ParamSweeper.open(tmp.path, [{ a: 1 }]),
    SweepFormatError,
    "no snapshot",
  );
});

Deno.test("ParamSweeper.open validates its arguments", async () => {
  await using tmp = await tempDir();
  await assertRejects(
    () => ParamSweeper.open(tmp.path, [{ a: 1 }], { leaseMs: 0 }),
    RangeError,
    "'leaseMs'",
  );
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => ParamSweeper.open(tmp.path, [1 as any]), TypeError, "plain object");
  await assertRejects(
    () => ParamSweeper.open(tmp.path, [{ a: undefined }]),
    TypeError,
    "'combination.a'",
  );
});

Deno.test("concurrent calls on one sweeper and several sweepers in one process never share a claim", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(60) });
  await using a = await ParamSweeper.open(tmp.path, combos);
  await using b = await ParamSweeper.open(tmp.path, combos, { blockingLock: true });
  const got = await Promise.all([
    ...Array.from({ length: 20 }, () => a.next()),
    ...Array.from({ length: 20 }, () => b.next()),
    a.nextMany(10),
    b.nextMany(10),
  ]);
  const ids = got.flat().map((c) => c!.i);
  assertEquals(new Set(ids).size, 60);
  assertEquals(await a.next(), null);
  const doneA = await a.doneMany(got.slice(0, 20).map((c) => c!) as { i: number }[]);
  const doneByB = await b.doneMany(got.slice(0, 20).map((c) => c!) as { i: number }[]); // a's claims
  assertEquals([doneA, doneByB], [20, 0]);
  assertEquals((await b.stats()).inProgress, 40);
});

Deno.test("compaction: a reader notices the new epoch even when the new journal outgrew its offset", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(100) });
  await using a = await ParamSweeper.open(tmp.path, combos, { compactBytes: 1024 });
  await using b = await ParamSweeper.open(tmp.path, combos); // never compacts
  const journalSize = () => Deno.statSync(`${tmp.path}/journal`).size;
  let i = 0;
  for (; i < 3; i++) await a.done({ i });
  assertEquals((await b.stats()).done, 3); // B has read the journal up to its end
  const offsetOfB = journalSize();
  while (a.compactions === 0) await a.done({ i: i++ });
  // The new journal grows past B's old offset: only its epoch tells B it is another file.
  while (journalSize() <= offsetOfB + 100) await a.done({ i: i++ });
  assertEquals(a.compactions, 1);
  const st = await b.stats();
  assertEquals([st.done, st.todo], [i, 100 - i]);
  assertEquals(await b.list("done"), Array.from({ length: i }, (_, k) => ({ i: k })));
});
