import { assert, assertEquals, tempDir } from "../../tests/assert.ts";
import { initPool, openPool } from "./pool.ts";

Deno.test("pool journal: a compaction cut between its two renames loses and repeats nothing", async () => {
  await using d = await tempDir("dexp-pool-compact-");
  {
    await using a = await initPool(d.path, { classes: [{ name: "cpu" }], compactBytes: 1 << 30 });
    await a.addMachines("cpu", ["n1"]);
    await a.submit({ class: "cpu", command: "echo", repeat: 3 });
  }
  // A first compaction: the jobs are in the snapshot, the journal of epoch 2 starts empty.
  {
    await using b = await openPool(d.path, { compactBytes: 1 });
    await b.hold([]);
  }
  {
    await using a = await openPool(d.path, { compactBytes: 1 << 30 });
    await a.claim(2, { machine: "n1", slot: "0" });
    // Enough records for the journal to outgrow half the snapshot, so the next write compacts.
    for (let i = 0; i < 20; i++) await a.hold([1]).then(() => a.unhold([1]));
  }
  const before = await Deno.readFile(`${d.path}/journal`);
  {
    // A write that records nothing still compacts a large journal: snapshot, then new journal.
    await using b = await openPool(d.path, { compactBytes: 1 });
    await b.hold([]);
  }
  const head = (await Deno.readTextFile(`${d.path}/snapshot`)).split("\n", 1)[0].split("\t");
  assertEquals(JSON.parse(head[2]).covers, { epoch: 2, offset: before.length });
  // The crash: the snapshot is in place, the old journal (same epoch) was not replaced yet.
  await Deno.writeFile(`${d.path}/journal`, before);
  {
    await using c = await openPool(d.path);
    const jobs = await c.jobs();
    assertEquals(jobs.map((j) => [j.id, j.state, j.attempts.length]), [
      [1, "waiting", 0],
      [2, "running", 1], // the claim counted once, not replayed over the snapshot
      [3, "waiting", 0],
    ]);
    await c.submit({ class: "cpu", command: "after" });
  }
  await using e = await openPool(d.path);
  assertEquals((await e.jobs()).map((j) => j.command), ["echo", "echo", "echo", "after"]);
});

Deno.test("pool journal: changes() reports what another handle wrote", async () => {
  await using d = await tempDir("dexp-pool-changes-");
  await using a = await initPool(d.path, { classes: [{ name: "cpu" }] });
  await using b = await openPool(d.path);
  const stop = new AbortController();
  const seen: number[] = [];
  const watching = (async () => {
    for await (const c of a.changes({ interval: 20, signal: stop.signal })) {
      seen.push(c.seq);
      if ((await a.jobs()).length === 2) stop.abort();
    }
  })();
  await b.submit({ class: "cpu", command: "one" });
  await b.submit({ class: "cpu", command: "two" });
  await watching;
  assert(seen.length >= 1, "at least one change reported");
  assertEquals(seen.at(-1), b.seq);
});
