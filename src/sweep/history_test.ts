// A sweep directory whose history is missing or inconsistent is refused with a message that
// names the file and the way out; it is never started over silently. `resetSweep(dir, "all")`
// (dexp sweep reset DIR --all) is the way out.
import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ParamSweeper } from "./param_sweeper.ts";
import { sweep } from "./sweep.ts";
import { range } from "./ranges.ts";
import { resetSweep, sweepStatus } from "./status.ts";
import { SweepFormatError } from "./journal.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "dexp-sweep-history-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function files(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

async function assertRefused(dir: string, mention: string): Promise<void> {
  const combos = sweep({ i: range(10) });
  for (
    const attempt of [
      () => ParamSweeper.open(dir, combos),
      () => sweepStatus(dir),
      () => resetSweep(dir, "skipped"),
      () => resetSweep(dir, "inProgress"),
    ]
  ) {
    const before = files(dir);
    const e = await assertRejects(attempt, SweepFormatError);
    const msg = (e as Error).message;
    assert(msg.includes(mention), msg);
    assert(msg.includes(`dexp sweep reset ${dir} --all`), msg);
    assert(!msg.includes("different times"), msg);
    assertEquals(files(dir), before, "a refused open must not write anything");
  }
}

Deno.test("a deleted journal beside the combinations file is refused, not started over", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(10) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos);
    for (let k = 0; k < 6; k++) await s.done((await s.next())!);
  }
  Deno.removeSync(`${tmp.path}/journal`);
  await assertRefused(tmp.path, `'${tmp.path}/journal' is missing beside 'combos'`);
  assert(!files(tmp.path).includes("journal"));
  // The way out, on purpose: start over.
  assertEquals(await resetSweep(tmp.path, "all"), 0);
  await using s = await ParamSweeper.open(tmp.path, combos);
  const st = await s.stats();
  assertEquals([st.total, st.done, st.todo], [10, 0, 10]);
  assertEquals(await s.next(), { i: 0 });
});

Deno.test("a deleted journal after a compaction is refused with the same clear message", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(10) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos, { compactBytes: 512 });
    while (s.compactions === 0) await s.done((await s.next())!);
    await s.done((await s.next())!);
  }
  Deno.removeSync(`${tmp.path}/journal`);
  await assertRefused(tmp.path, `'${tmp.path}/journal' is missing beside 'snapshot' and 'combos'`);
  assertEquals(await resetSweep(tmp.path, "all"), 0);
  const st = await sweepStatus(tmp.path);
  assertEquals([st.total, st.done, st.todo], [10, 0, 10]);
  await using s = await ParamSweeper.open(tmp.path, combos);
  assertEquals(await s.next(), { i: 0 });
  assert(await s.done({ i: 0 }));
  assertEquals((await sweepStatus(tmp.path)).done, 1);
});

Deno.test("a removed snapshot or mixed files name the file and the way out", async () => {
  await using tmp = await tempDir();
  const combos = sweep({ i: range(10) });
  {
    await using s = await ParamSweeper.open(tmp.path, combos, { compactBytes: 512 });
    while (s.compactions === 0) await s.done((await s.next())!);
  }
  const snapshot = Deno.readFileSync(`${tmp.path}/snapshot`);
  Deno.removeSync(`${tmp.path}/snapshot`);
  await assertRefused(tmp.path, `'${tmp.path}/snapshot' was removed`);
  Deno.writeFileSync(`${tmp.path}/snapshot`, snapshot);
  assertEquals((await sweepStatus(tmp.path)).total, 10); // restored: readable again
  // A claim held across a start-over cannot complete the new sweep's claim of it.
  await using old = await ParamSweeper.open(tmp.path, combos);
  const c = (await old.next())!;
  Deno.removeSync(`${tmp.path}/journal`);
  assertEquals(await resetSweep(tmp.path, "all"), 0);
  await using fresh = await ParamSweeper.open(tmp.path, combos);
  const taken = [];
  for (let c2 = await fresh.next(); c2; c2 = await fresh.next()) taken.push(c2);
  assertEquals(taken.length, 10);
  assertEquals(await old.done(c), false);
  assertEquals((await fresh.stats()).inProgress, 10);
});
