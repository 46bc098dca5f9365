import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/assert.ts";
import { cmd } from "./command.ts";
import { ExitError, ExpectError, OutputError, SpawnError, TimeoutError } from "./errors.ts";
import { isAlive } from "./tree.ts";

const q = (c: string | string[]) => cmd(c).quiet();

Deno.test("builders are immutable and lazy", async () => {
  const base = q("echo $X");
  const withX = base.env({ X: "1" });
  assertEquals(base.settings.env, {});
  assertEquals(withX.settings.env, { X: "1" });
  assertEquals((await withX).text(), "1");
  assertEquals((await base).text(), "");
});

Deno.test("argv mode passes empty and unicode arguments unchanged", async () => {
  const args = ["", "héllo wörld", "日本語", "'; echo INJECTED #", "$(id)", "*", "a\nb"];
  const r = await q(["printf", "<%s>\\n", ...args]);
  assertEquals(r.stdout, args.map((a) => `<${a}>\n`).join(""));
});

Deno.test("shell line, env and cwd", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await q("echo $FOO; pwd").env({ FOO: "bar baz" }).cwd(dir);
    assertEquals(r.lines(), ["bar baz", await Deno.realPath(dir)]);
    assertEquals(r.exitCode, 0);
    assert(r.ok);
    assertEquals(r.target, "local");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text, lines, json and code", async () => {
  assertEquals(await cmd("printf 'a\\nb\\n\\n'").text(), "a\nb");
  assertEquals(await cmd("printf 'a\\nb\\n'").lines(), ["a", "b"]);
  assertEquals(await cmd(`echo '{"n": [1, 2]}'`).json(), { n: [1, 2] });
  assertEquals(await cmd("exit 7").code(), 7);
  await assertRejects(() => cmd("echo nope").json(), SyntaxError, "is not JSON");
});

Deno.test("stdin from a string, from lines, and piped", async () => {
  assertEquals((await q("cat").stdin("abc")).stdout, "abc");
  assertEquals((await q("cat").stdin(["x", "y"])).stdout, "x\ny\n");
  const p = q("cat; echo done").stdin("piped").spawn();
  await p.writeLine("one");
  await p.write("two\n");
  await p.closeStdin();
  assertEquals((await p).stdout, "one\ntwo\ndone\n");
  const notPiped = q("cat").spawn();
  await assertRejects(() => notPiped.write("x"), TypeError, 'call .stdin("piped")');
  await notPiped;
});

Deno.test("non-zero exit rejects with ExitError showing code, hint and stderr tail", async () => {
  const e = await assertRejects(() => q("echo boom >&2; exit 127"), ExitError);
  assertEquals(e.exitCode, 127);
  assertMatch(e.message, /code 127 \(command not found\)/);
  assertMatch(e.message, /stderr:\n {2}boom/);
  assertEquals(e.result.stderr, "boom\n");
  const r = await q("exit 3").noThrow();
  assertEquals([r.ok, r.failure, r.exitCode], [false, "exit", 3]);
});

Deno.test("a missing program is a SpawnError, not an exit code", async () => {
  const e = await assertRejects(() => q(["no-such-program-dexp"]), SpawnError);
  assertMatch(e.message, /'no-such-program-dexp' not found/);
  const r = await q(["no-such-program-dexp"]).noThrow();
  assertEquals(r.failure, "spawn");
  const bad = await q("true").cwd("/no/such/dir").noThrow();
  assertEquals(bad.failure, "spawn");
});

Deno.test("a signal the process did not get from dexp is a SignalError", async () => {
  const r = await q("kill -SEGV $$").noThrow();
  assertEquals(r.failure, "signal");
  assertEquals(r.signal, "SIGSEGV");
});

async function treePids(p: ReturnType<typeof cmd>["spawn"] extends () => infer R ? R : never) {
  const m1 = await p.expect(/^pids (\d+) (\d+)$/);
  return [p.pid!, Number(m1.match![1]), Number(m1.match![2])];
}

const TREE = "sleep 100 & a=$!; sleep 100 & b=$!; echo pids $a $b; wait";

Deno.test("kill() ends the whole process tree", async () => {
  const p = q(["sh", "-c", TREE]).spawn();
  const pids = await treePids(p);
  assert(pids.every(isAlive));
  await p.kill();
  const r = await p;
  assertEquals([r.killed, r.failure, r.ok], [true, "killed", false]);
  assertEquals(pids.filter(isAlive), []);
});

Deno.test("a timeout ends the whole tree and rejects with TimeoutError", async () => {
  const p = q(["sh", "-c", TREE]).timeout(300).spawn();
  const pids = await treePids(p);
  const e = await assertRejects(() => p.wait(), TimeoutError);
  assert(e.result.timedOut);
  assertMatch(e.message, /timed out/);
  assertEquals(pids.filter(isAlive), []);
});

Deno.test("a process that ignores SIGTERM is killed after the grace period", async () => {
  const p = q(["sh", "-c", "trap '' TERM; echo ready; sleep 100 & wait"]).killGrace(200).spawn();
  await p.expect("ready");
  await p.kill();
  const r = await p.result();
  assert(r.killed);
  assertEquals(r.signal, "SIGKILL");
});

Deno.test("10 MB of output keeps only the head and tail in memory", async () => {
  const limit = 64 * 1024;
  const r = await q("head -c 10000000 /dev/zero | tr '\\000' a").captureLimit(limit);
  assertEquals(r.stdoutBytes, 10_000_000);
  assert(r.stdout.length < limit + 100, `kept ${r.stdout.length} chars`);
  const marker = r.stdout.match(/\[\.\.\. dexp dropped (\d+) bytes of output \.\.\.\]/);
  assertEquals(marker?.[1], String(10_000_000 - limit));
  assert(r.stdout.startsWith("aaaa") && r.stdout.endsWith("aaaa"));
});

Deno.test("expect resolves on a match, rejects on timeout and on early exit", async () => {
  const srv = q("echo starting; sleep 0.1; echo 'Server listening on 4242'; sleep 100").spawn();
  const m = await srv.expect(/listening on (\d+)/, { timeout: 5000 });
  assertEquals(m.match![1], "4242");
  assertEquals(m.stream, "stdout");
  // Lines seen before the call count too.
  assertEquals((await srv.expect("starting")).line, "starting");
  const t = await assertRejects(() => srv.expect("never", { timeout: 100 }), ExpectError);
  assertEquals(t.reason, "timeout");
  await srv.kill();
  const early = q("echo bye >&2; exit 1").noThrow().spawn();
  const e = await assertRejects(() => early.expect("hello"), ExpectError);
  assertEquals(e.reason, "exit");
  await early;
});

Deno.test("output goes to handlers, files (truncate or append) and the console prefix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const seen: string[] = [];
    const file = `${dir}/sub/out.log`;
    await q("echo one; echo two >&2").onStdout((l) => seen.push(`out:${l}`))
      .onStderr((l, i) => seen.push(`${i.stream}:${l}`)).stdoutFile(file);
    assertEquals(seen.sort(), ["out:one", "stderr:two"]);
    assertEquals(await Deno.readTextFile(file), "one\n");
    await q("echo three").stdoutFile(file, { append: true });
    assertEquals(await Deno.readTextFile(file), "one\nthree\n");
    await q("echo four").stdoutFile(file);
    assertEquals(await Deno.readTextFile(file), "four\n");
    const script = `${dir}/echo.ts`;
    const mod = new URL("./command.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { cmd } from "${mod}";\nawait cmd("echo hi; echo err >&2").prefix("[n1] ");`,
    );
    const r = await q([Deno.execPath(), "run", "-A", script]);
    assertEquals(r.stdout, "[n1] hi\n");
    assertEquals(r.stderr, "[n1] err\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input gets errors that say how to fix it", () => {
  let e = "";
  try {
    cmd("x").timeout("soon");
  } catch (err) {
    e = String(err);
  }
  assertMatch(e, /'timeout' must be a number of ms or text like/);
  try {
    cmd([]);
  } catch (err) {
    e = String(err);
  }
  assertMatch(e, /argv array is empty/);
  try {
    cmd("x").env({ "BAD-NAME": "1" });
  } catch (err) {
    e = String(err);
  }
  assertMatch(e, /'BAD-NAME' is not valid/);
});

Deno.test("output that cannot be written to its file is an OutputError; the process still ends", async () => {
  const r = await q("head -c 300000 /dev/zero; echo done >&2").stdoutFile("/dev/full").noThrow();
  assertEquals([r.failure, r.exitCode, r.stdoutBytes], ["output", 0, 300_000]);
  assertMatch(r.reason!, /could not write stdout to a file: No space left/);
  await assertRejects(() => q("echo x").stdoutFile("/dev/full"), OutputError);
});

Deno.test("stdin data that the process never reads does not block or leak", async () => {
  const r = await q("exit 0").stdin("x".repeat(2_000_000));
  assertEquals(r.exitCode, 0);
});

Deno.test("a closed console (`| head`) does not stop a command that copies its output there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/head.ts`;
    await Deno.writeTextFile(
      script,
      `import { cmd } from ${JSON.stringify(new URL("./command.ts", import.meta.url).href)};
const r = await cmd("seq 1 20000");
console.error("result", r.exitCode, r.stdoutBytes);`,
    );
    const r = await q(["sh", "-c", `${Deno.execPath()} run -A ${script} | head -1`]);
    assertEquals(r.stdout, "1\n");
    assertEquals(r.stderr, "result 0 108894\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
