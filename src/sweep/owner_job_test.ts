import { assert, assertEquals } from "../../tests/assert.ts";
import { currentOwner, liveness, ownerKey, parseOwnerKey } from "./owner.ts";
import { ParamSweeper } from "./param_sweeper.ts";

Deno.test("an owner's batch job is kept in its key; keys without one read as before", () => {
  const a = currentOwner("n1", "12_3");
  assertEquals(a.job, "12_3");
  assertEquals(parseOwnerKey(ownerKey(a)), a);
  assertEquals(ownerKey(a).split("|").length, 6);
  const b = currentOwner("n1");
  assertEquals("job" in b, false);
  assertEquals(parseOwnerKey(ownerKey(b)), b);
  assertEquals(currentOwner("n1", "1|2\n").job, "1_2_");
});

Deno.test("liveness: another process of the same batch job is an earlier, dead instance", () => {
  const me = currentOwner("n2", "12_3");
  const now = Date.now();
  // Requeued onto another node: its lease is still valid, yet it is dead.
  const before = { ...currentOwner("n1", "12_3"), pid: 4242 };
  assertEquals(liveness(before, me, now + 60_000, now), "job-restarted");
  // Another task of the array, or no job: the lease decides as before.
  assertEquals(liveness({ ...before, job: "12_4" }, me, now + 60_000, now), "lease-valid");
  const { job: _, ...noJob } = before;
  assertEquals(liveness(noJob, me, now + 60_000, now), "lease-valid");
  // Another sweeper of this very process is alive.
  assertEquals(liveness({ ...me, instance: me.instance + 1 }, me, 0, now), "alive");
});

Deno.test("a requeued task gets back at once what its earlier instance claimed elsewhere", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const combos = [{ i: 1 }, { i: 2 }, { i: 3 }];
    // The first instance of task 12_3 claims i=1 on node n1, then its node dies: no close().
    const first = await ParamSweeper.open(dir, combos, { host: "n1", job: "12_3" });
    assertEquals(await first.next(), { i: 1 });
    // Another task on n3 does not take it: its owner's lease is valid.
    const other = await ParamSweeper.open(dir, combos, { host: "n3", job: "12_4" });
    assertEquals(await other.next(), { i: 2 });
    // Task 12_3 again, requeued on n2: the claim of its earlier instance is stale.
    const again = await ParamSweeper.open(dir, combos, { host: "n2", job: "12_3" });
    assertEquals(await again.next(), { i: 1 });
    const claims = await again.inProgress();
    assertEquals(claims.map((c) => [c.combination, c.owner.host]).sort(), [
      [{ i: 1 }, "n2"],
      [{ i: 2 }, "n3"],
    ]);
    assert(claims.every((c) => c.owner.job !== undefined));
    await again.close();
    await other.close();
    await first.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
