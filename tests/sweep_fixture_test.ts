// A directory written in format 1 (tests/fixtures/sweep/v1, made by sweep_make_fixture.ts)
// must keep opening: with a snapshot, a journal of epoch 2, a claim of a crashed owner on
// another host, a skip reason and a record of a combination no longer in the set.
import { assert, assertEquals } from "./assert.ts";
import { ParamSweeper, sweep, sweepStatus } from "../src/sweep/mod.ts";

const FIXTURE = new URL("./fixtures/sweep/v1", import.meta.url).pathname;

async function copyFixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-sweep-fixture-" });
  for (const f of ["journal", "snapshot", "combos"]) {
    await Deno.copyFile(`${FIXTURE}/${f}`, `${dir}/${f}`);
  }
  return dir;
}

Deno.test("a format-1 directory opens: status without the script, then a sweeper", async () => {
  const dir = await copyFixture();
  try {
    const st = await sweepStatus(dir);
    assertEquals([st.total, st.done, st.skipped, st.inProgress, st.todo], [6, 2, 1, 1, 2]);
    assertEquals(st.outsideSet, 1);
    assertEquals(st.claims.length, 1);
    assertEquals(st.claims[0].owner.host, "fixture-host");
    assertEquals(st.claims[0].combination, { a: 2, b: "x" });
    assertEquals(st.claims[0].liveness, "lease-expired");

    await using s = await ParamSweeper.open(dir, sweep({ a: [1, 2, 3], b: ["x", "y"] }));
    assertEquals(await s.stateOf({ a: 1, b: "y" }), { state: "skipped", reason: "out of memory" });
    assertEquals(await s.list("done"), [{ a: 1, b: "x" }, { a: 3, b: "y" }]);
    // The crashed owner's lease expired long ago: its claim is back and claimed first.
    assertEquals(await s.next(), { a: 2, b: "x" });
    const rest = [];
    for await (const c of s) rest.push(c);
    assertEquals(rest, [{ a: 2, b: "y" }, { a: 3, b: "x" }]);
    assertEquals((await s.stats()).done, 4);
    // The dropped combination's record is still there if it comes back.
    await using t = await ParamSweeper.open(dir, sweep({ a: [1, 2, 3, 9], b: ["x"] }));
    assertEquals(await t.stateOf({ a: 9, b: "x" }), { state: "done" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the fixture itself is untouched by the test", () => {
  const names = [...Deno.readDirSync(FIXTURE)].map((e) => e.name).sort();
  assertEquals(names, ["combos", "journal", "snapshot"]);
  assert(Deno.readTextFileSync(`${FIXTURE}/journal`).startsWith("dexp-sweep-journal\t1\t2\t"));
});
