// The sweeper under a full disk and a read-only file system, for real: a small tmpfs filled
// up, and a read-only bind mount (both need root; skipped loudly without, failed under CI).
// Also `dexp sweep status|reset` with failed and skipped combinations, and the runner's
// claim store recording failures as failed.
import { assert, assertEquals } from "./assert.ts";
import { decodeRec } from "../src/sweep/_format.ts";
import { ParamSweeper, range, sweep, sweepStatus } from "../src/sweep/mod.ts";
import { sweepVerb } from "../src/cli/sweep_verb.ts";
import { openStore } from "../src/engine/_claims.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const CI = Deno.env.get("CI") === "true";
const decoder = new TextDecoder();

async function sh(cmd: string, ...args: string[]): Promise<{ code: number; err: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: o.code, err: decoder.decode(o.stderr) + decoder.decode(o.stdout) };
}

type Mount = { path: string } & AsyncDisposable;

/** Says why a mount test cannot run here: fails under CI, warns loudly elsewhere. */
function cannot(why: string): null {
  const msg = `this test mounts file systems and needs root: ${why}`;
  if (CI) throw new Error(msg);
  console.warn(`%cSKIPPED: ${msg}`, "color: yellow");
  return null;
}

async function mount(args: string[], undo: () => Promise<void>): Promise<boolean> {
  const r = await sh("mount", ...args);
  if (r.code === 0) return true;
  await undo();
  cannot(`'mount ${args.join(" ")}' failed: ${r.err.trim()}`);
  return false;
}

/** A tmpfs of `size` on a new temporary directory, unmounted and removed on dispose. */
async function tmpfs(size: string): Promise<Mount | null> {
  if (Deno.uid() !== 0) return cannot(`running as uid ${Deno.uid()}`);
  const path = await Deno.makeTempDir({ prefix: "dexp-sweep-tmpfs-" });
  const ok = await mount(
    ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
    () => Deno.remove(path),
  );
  if (!ok) return null;
  return {
    path,
    async [Symbol.asyncDispose]() {
      const r = await sh("umount", path);
      assertEquals(r.code, 0, `umount ${path}: ${r.err}`);
      await Deno.remove(path);
    },
  };
}

/** A read-only view of `src` (a bind mount remounted read-only). */
async function readOnlyView(src: string): Promise<Mount | null> {
  if (Deno.uid() !== 0) return cannot(`running as uid ${Deno.uid()}`);
  const path = await Deno.makeTempDir({ prefix: "dexp-sweep-ro-" });
  if (!await mount(["--bind", src, path], () => Deno.remove(path))) return null;
  const unmount = async () => {
    const r = await sh("umount", path);
    assertEquals(r.code, 0, `umount ${path}: ${r.err}`);
    await Deno.remove(path);
  };
  if (!await mount(["-o", "remount,ro,bind", path], unmount)) return null;
  return { path, [Symbol.asyncDispose]: unmount };
}

/** Fills the file system of `dir` to the last byte; returns the file to remove to free it. */
function fill(dir: string): string {
  const path = `${dir}/filler`;
  const f = Deno.openSync(path, { write: true, create: true });
  const buf = new Uint8Array(4096).fill(120);
  try {
    for (;;) f.writeSync(buf);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOSPC") throw e;
  } finally {
    f.close();
  }
  return path;
}

/** Every journal line is whole and readable: nothing torn left behind by a failed write. */
function assertJournalClean(dir: string): void {
  const text = Deno.readTextFileSync(`${dir}/journal`);
  assert(
    text.endsWith("\n"),
    `the journal ends with a torn line: ${JSON.stringify(text.slice(-80))}`,
  );
  const lines = text.split("\n").slice(1, -1);
  for (const l of lines) assert(decodeRec(l) !== undefined, `unreadable journal line: ${l}`);
}

function counts(st: { todo: number; inProgress: number; done: number; skipped: number }) {
  return { todo: st.todo, inProgress: st.inProgress, done: st.done, skipped: st.skipped };
}

// Identities longer than a page (4 KiB): every record needs a new page of the tmpfs, so a
// write on a full disk fails for sure, after writing part of the line.
const PAD = "p".repeat(5000);
const big = () => [0, 1, 2, 3].map((i) => ({ i, pad: PAD }));

Deno.test("disk full: a done() that fails leaves the claim able to complete", async () => {
  await using fs = await tmpfs("256k");
  if (!fs) return;
  const dir = `${fs.path}/sweep`;
  await using s = await ParamSweeper.open(dir, big());
  const c = (await s.next())!;
  const filler = fill(fs.path);
  let error: unknown;
  try {
    await s.done(c);
  } catch (e) {
    error = e;
  }
  assert(error !== undefined, "done() on a full disk did not fail");
  assertJournalClean(dir);
  // Memory and disk agree: nothing recorded.
  assertEquals(counts(await s.stats()), { todo: 3, inProgress: 1, done: 0, skipped: 0 });
  assertEquals(counts(await sweepStatus(dir)), { todo: 3, inProgress: 1, done: 0, skipped: 0 });
  assertEquals((await s.inProgress())[0].mine, true);
  Deno.removeSync(filler);
  assertEquals(await s.done(c), true, "the claim could not complete once space returned");
  assertJournalClean(dir);
  assertEquals(counts(await sweepStatus(dir)), { todo: 3, inProgress: 0, done: 1, skipped: 0 });
  assertEquals(await s.next(), big()[1]);
  const e = error as Error;
  assertEquals(e.name, "SweepWriteError");
  assert(e.message.includes(`Could not write '${dir}/journal'`), e.message);
  assert(e.message.includes("No space left on device"), e.message);
  assert(e.message.includes("nothing was recorded; free some space and try again"), e.message);
});

Deno.test("disk full: skip(), fail() and cancel() that fail leave the claim as it was", async () => {
  await using fs = await tmpfs("256k");
  if (!fs) return;
  const dir = `${fs.path}/sweep`;
  await using s = await ParamSweeper.open(dir, big());
  const ops: [string, (c: { i: number; pad: string }) => Promise<boolean>, string][] = [
    ["skip", (c) => s.skip(c, "no node"), "skipped"],
    ["fail", (c) => s.fail(c, "exit 1"), "failed"],
    ["cancel", (c) => s.cancel(c), "todo"],
  ];
  for (const [name, op, after] of ops) {
    const c = (await s.next())!;
    const filler = fill(fs.path);
    let failed = false;
    try {
      await op(c);
    } catch (e) {
      failed = true;
      assertEquals((e as Error).name, "SweepWriteError", `${name}: ${e}`);
    }
    assert(failed, `${name}() on a full disk did not fail`);
    assertJournalClean(dir);
    assertEquals((await s.stateOf(c)).state, "inProgress", name);
    assertEquals((await sweepStatus(dir)).inProgress, 1, name);
    // No half-written snapshot is left holding the space (fail() compacts into format 2).
    assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), [], name);
    Deno.removeSync(filler);
    assertEquals(await op(c), true, `${name}() could not complete once space returned`);
    assertEquals((await s.stateOf(c)).state, after, name);
  }
  const st = await sweepStatus(dir);
  assertEquals([st.skipped, st.failed, st.todo, st.inProgress], [1, 1, 2, 0]);
});

Deno.test("disk full: next() that fails claims nothing, then claims in order", async () => {
  await using fs = await tmpfs("256k");
  if (!fs) return;
  const dir = `${fs.path}/sweep`;
  await using s = await ParamSweeper.open(dir, sweep({ i: range(500) }));
  const filler = fill(fs.path);
  // Short records: they fit in the journal's last page until one crosses into a new page.
  const claimed: number[] = [];
  let error: unknown;
  for (let k = 0; k < 500 && error === undefined; k++) {
    try {
      claimed.push((await s.next())!.i as number);
    } catch (e) {
      error = e;
    }
  }
  assert(error !== undefined, "no claim failed on a full disk");
  assertEquals((error as Error).name, "SweepWriteError");
  assertJournalClean(dir);
  assertEquals((await s.inProgress()).length, claimed.length);
  assertEquals((await sweepStatus(dir)).inProgress, claimed.length);
  Deno.removeSync(filler);
  assertEquals(await s.next(), { i: claimed.length });
  for (const i of claimed) assertEquals(await s.done({ i }), true);
  assertJournalClean(dir);
  assertEquals((await sweepStatus(dir)).done, claimed.length);
});

async function prepared(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-sweep-hard-" });
  await using s = await ParamSweeper.open(dir, sweep({ n: [1, 2, 3, 4, 5] }));
  await s.done((await s.next())!);
  await s.skip((await s.next())!, "no node with 64 GB");
  await s.fail((await s.next())!, "exit code 3 on n2");
  return dir;
}

async function dexp(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, out: decoder.decode(o.stdout), err: decoder.decode(o.stderr) };
}

function assertNoStackTrace(r: { err: string }): void {
  assert(!r.err.includes("Uncaught") && !/\n\s+at /.test(r.err), `stack trace:\n${r.err}`);
}

Deno.test("read-only file system: sweep status works, reset says why it cannot", async () => {
  const dir = await prepared();
  try {
    for (const withLock of [true, false]) {
      if (!withLock) Deno.removeSync(`${dir}/lock`);
      await using ro = await readOnlyView(dir);
      if (!ro) return;
      const text = await dexp("sweep", "status", ro.path);
      assertNoStackTrace(text);
      assertEquals(text.code, 0, text.err);
      assert(text.out.includes("done        1 (20.0%)"), text.out);
      assert(text.out.includes("failed      1 (20.0%)"), text.out);
      const json = await dexp("sweep", "status", ro.path, "--json");
      assertEquals(json.code, 0, json.err);
      const st = JSON.parse(json.out);
      assertEquals([st.done, st.skipped, st.failed, st.todo], [1, 1, 1, 2]);
      const reset = await dexp("sweep", "reset", ro.path, "--all");
      assertNoStackTrace(reset);
      assertEquals(reset.code, 1);
      assert(reset.err.includes(`dexp sweep reset: Could not write '${ro.path}/`), reset.err);
      assert(reset.err.includes("Read-only file system"), reset.err);
      assert(reset.err.includes("the file system is read-only: remount it read-write"), reset.err);
      // A sweeper cannot open it either, with the same clear error.
      let msg = "";
      try {
        await ParamSweeper.open(ro.path, sweep({ n: [1, 2, 3, 4, 5] }));
      } catch (e) {
        msg = `${(e as Error).name}: ${(e as Error).message}`;
      }
      assert(msg.startsWith("SweepWriteError: Could not write"), msg);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dexp sweep status shows failed ones as failed, with skip and failure reasons", async () => {
  const dir = await prepared();
  try {
    const text = await dexp("sweep", "status", dir);
    assertEquals(text.code, 0, text.err);
    assert(text.out.includes("  skipped     1 (20.0%)"), text.out);
    assert(text.out.includes("  failed      1 (20.0%)"), text.out);
    assert(text.out.includes(`failed:\n  {"n":3}  exit code 3 on n2`), text.out);
    assert(text.out.includes(`skipped:\n  {"n":2}  no node with 64 GB`), text.out);
    const json = JSON.parse((await dexp("sweep", "status", dir, "--json")).out);
    assertEquals(json.failures, [{ combination: { n: 3 }, reason: "exit code 3 on n2" }]);
    assertEquals(json.skips, [{ combination: { n: 2 }, reason: "no node with 64 GB" }]);
    const usage = await dexp("sweep", "reset", dir);
    assertEquals(usage.code, 2);
    assert(usage.err.includes("--in-progress, --skipped, --failed, --all"), usage.err);
    const reset = await dexp("sweep", "reset", dir, "--failed");
    assertEquals([reset.code, reset.out.trim()], [0, `1 combination back to todo in ${dir}`]);
    const st = await sweepStatus(dir);
    assertEquals([st.failed, st.skipped, st.todo], [0, 1, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dexp sweep reset --all starts over a directory whose journal was removed", async () => {
  const dir = await prepared();
  try {
    Deno.removeSync(`${dir}/journal`);
    const status = await dexp("sweep", "status", dir);
    assertNoStackTrace(status);
    assertEquals(status.code, 1);
    assert(status.err.includes(`'${dir}/journal' is missing`), status.err);
    assert(status.err.includes(`'dexp sweep reset ${dir} --all'`), status.err);
    const reset = await sweepVerb.run(["reset", dir, "--all"]);
    assertEquals(reset, 0);
    const st = await sweepStatus(dir);
    assertEquals([st.total, st.todo, st.done], [5, 5, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the runner's claim store records a failure as failed, with its reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dexp-sweep-claims-" });
  try {
    const store = await openStore(dir, [{ a: 1 }, { a: 2 }]);
    const c = (await store.next())!;
    await store.fail(c, "1 of 2 commands failed");
    assertEquals((await store.stats()).failed, 1);
    await store.close();
    const st = await sweepStatus(dir);
    assertEquals([st.failed, st.skipped], [1, 0]);
    assertEquals(st.failures, [{ combination: { a: 1 }, reason: "1 of 2 commands failed" }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk full: a for-await loop that cannot record a completion keeps the claim", async () => {
  await using fs = await tmpfs("256k");
  if (!fs) return;
  const dir = `${fs.path}/sweep`;
  await using s = await ParamSweeper.open(dir, big());
  let filler = "";
  let first: { i: number; pad: string } | undefined;
  let error: unknown;
  try {
    for await (const c of s) {
      first = c;
      filler = fill(fs.path); // the body completes; recording it fails
    }
  } catch (e) {
    error = e;
  }
  assertEquals((error as Error)?.name, "SweepWriteError");
  assertJournalClean(dir);
  assertEquals(first, big()[0]);
  assertEquals(await s.stateOf(first!), { state: "inProgress" });
  Deno.removeSync(filler);
  assertEquals(await s.done(first!), true, "the completed work could not be recorded");
  const rest = [];
  for await (const c of s) rest.push(c.i);
  assertEquals(rest, [1, 2, 3]);
  assertEquals((await sweepStatus(dir)).done, 4);
});

Deno.test("disk full: opening a new sweep fails clearly and leaves nothing half-written", async () => {
  await using fs = await tmpfs("256k");
  if (!fs) return;
  const dir = `${fs.path}/sweep`;
  const filler = fill(fs.path);
  let error: unknown;
  try {
    await (await ParamSweeper.open(dir, big())).close();
  } catch (e) {
    error = e;
  }
  assertEquals((error as Error)?.name, "SweepWriteError");
  assert((error as Error).message.includes("No space left on device"), String(error));
  assertEquals([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
  Deno.removeSync(filler);
  await using s = await ParamSweeper.open(dir, big());
  assertEquals(await s.next(), big()[0]);
});
