/**
 * Detached jobs inside experiments (`ctx.detach()`), on the sshd testbed: `dexp run` is
 * SIGKILLed while a combination's detached job runs, `dexp run --resume` takes the job back
 * (it runs exactly once, checked on the host) and records its result; Ctrl-C kills the job;
 * `dexp jobs` works on a results folder.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes, waitFor } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { isGone } from "./harness/_proc.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).href;
const dec = new TextDecoder();

async function homeOf(user: string): Promise<string> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((l) => l.startsWith(user + ":"))!;
  return line.split(":")[5];
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The live processes of a session on the host, from outside with pgrep. */
async function sessionProcs(sid: number): Promise<number[]> {
  const o = await new Deno.Command("pgrep", { args: ["-s", String(sid)] }).output();
  const pids = dec.decode(o.stdout).split("\n").filter((l) => l).map(Number);
  const live: number[] = [];
  for (const p of pids) if (!(await isGone(p))) live.push(p);
  return live;
}

interface Setup {
  dir: string;
  file: string;
  results: string;
  marks: string;
  counter: string;
  go: string;
  root: string;
  abs: string;
}

interface ExpOptions {
  /** The testbed and user (default: the experiment's default hosts, this machine). */
  tb?: Testbed;
  user?: string;
  /** `wait()` (a failed or lost job fails the attempt) instead of `result()`. */
  wait?: boolean;
}

/**
 * Makes a scratch folder and writes an experiment whose one combination runs a short
 * command, then detaches `job` on its hosts, appends the runner's pid to `marks` once
 * `ctx.detach()` returned, and records what the job gave in `seen.json`.
 */
async function setup(job: (s: Setup) => string, o: ExpOptions = {}): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-jobs-runner-" });
  await Deno.chmod(dir, 0o755);
  const name = `.dexp-test-jobs-${crypto.randomUUID().slice(0, 8)}`;
  const s: Setup = {
    dir,
    file: join(dir, "exp.ts"),
    results: join(dir, "res"),
    marks: join(dir, "marks"),
    counter: join(dir, "counter"),
    go: join(dir, "go"),
    root: o.tb ? `~/${name}` : join(dir, name),
    abs: o.tb ? `${await homeOf(o.user!)}/${name}` : join(dir, name),
  };
  await Deno.writeTextFile(s.counter, "");
  await Deno.chmod(s.counter, 0o666);
  await writeExperiment(s, job(s), o);
  return s;
}

/** (Re)writes the experiment file of `setup()` with the job command `job`. */
async function writeExperiment(s: Setup, job: string, o: ExpOptions = {}): Promise<void> {
  let hostsExpr = "undefined";
  if (o.tb) {
    const spec = o.tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
    const params = {
      user: o.user,
      keyfile: o.tb.keyfile,
      knownHosts: o.tb.knownHosts,
      strictHostKeyChecking: "yes",
    };
    hostsExpr = `hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)})`;
  }
  await Deno.writeTextFile(
    s.file,
    `import { experiment, hosts } from ${JSON.stringify(MOD)};
void hosts;
const n = ${hostsExpr};
experiment("dj", { params: { k: [1] }, ...(n ? { hosts: n } : {}) }, async (ctx) => {
  // An attached command first: its owner record makes --resume run the take-back.
  await ctx.spawn("true");
  const g = await ctx.detach(${JSON.stringify(job)}, { name: "dj", root: ${
      JSON.stringify(s.root)
    } });
  await Deno.writeTextFile(${JSON.stringify(s.marks)}, Deno.pid + "\\n", { append: true });
  const r = await g.${o.wait ? "wait" : "result"}({ interval: 100 });
  await ctx.writeJson("seen.json", { code: r.results[0].exitCode, out: r.results[0].stdout });
});
`,
  );
}

/** Waits for `cond` while `child` runs; fails with the child's output if it ends first. */
async function whileRunning(
  child: Deno.ChildProcess,
  what: string,
  cond: () => Promise<boolean>,
): Promise<void> {
  let ended = false;
  child.status.then(() => ended = true);
  await waitFor(what, async () => ended || await cond() || undefined, { deadline: 90_000 });
  if (ended && !(await cond())) {
    const o = await child.output();
    throw new Error(
      `dexp run ended (code ${o.code}) before ${what}: ${dec.decode(o.stdout)}${
        dec.decode(o.stderr)
      }`,
    );
  }
}

/** SIGKILLs a child unless it ended, and reaps it. */
async function reap(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* ended already */ }
  await child.output().catch(() => {});
}

function spawn(s: Setup, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${CONFIG}`,
      MAIN,
      "run",
      "--no-progress",
      "-r",
      s.results,
      ...args,
      s.file,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function dexp(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

async function runDirOf(s: Setup): Promise<string> {
  const exp = join(s.results, "dj");
  for await (const e of Deno.readDir(exp)) if (e.isDirectory) return join(exp, e.name);
  throw new Error("no run folder");
}

/** The only job folder under the test's root, and its supervisor's pid (= session id). */
async function theJob(s: Setup): Promise<{ id: string; sid: number }> {
  const ids: string[] = [];
  for await (const e of Deno.readDir(s.abs)) {
    if (e.isDirectory && !e.name.startsWith(".")) ids.push(e.name);
  }
  assertEquals(ids.length, 1, `job folders: ${ids}`);
  const pid = (await Deno.readTextFile(`${s.abs}/${ids[0]}/pid`)).trim().split(" ").map(Number);
  return { id: ids[0], sid: pid[2] };
}

async function cleanup(s: Setup): Promise<void> {
  await Deno.remove(s.abs, { recursive: true }).catch(() => {});
  await Deno.remove(s.dir, { recursive: true }).catch(() => {});
}

for (const user of [USERS.dash, USERS.bash]) {
  sshTest(
    `dexp run SIGKILLed, then --resume: the detached job is taken back and runs once (${user})`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      const s = await setup(
        (s) =>
          `echo run >> ${s.counter}; echo hello; while [ ! -f ${s.go} ]; do sleep 0.1; done; echo bye; exit 3`,
        { tb, user },
      );
      let sid = 0;
      try {
        const first = spawn(s, []);
        try {
          await whileRunning(
            first,
            "the first runner's detach",
            async () => (await lines(s.marks)).length === 1,
          );
        } finally {
          await reap(first);
        }
        const runDir = await runDirOf(s);
        const combo = join(runDir, "k=1");
        // Recorded before ctx.detach() returned.
        const recorded = JSON.parse(await Deno.readTextFile(join(combo, "jobs.json")));
        assertEquals(recorded.entries.length, 1);
        const job = await theJob(s);
        sid = job.sid;
        assertEquals(recorded.entries[0].jobs[0].ref.id, job.id);
        // The job outlived the runner (checked on the host).
        assert((await sessionProcs(sid)).includes(sid), "the supervisor is gone");
        // dexp jobs on the results folder (experiment folder = latest run) finds it running.
        const ls = await dexp(["jobs", "ls", join(s.results, "dj"), "--json"]);
        assertEquals(ls.code, 0, ls.err);
        const listed = JSON.parse(ls.out);
        assertEquals(listed.length, 1);
        assertEquals(listed[0].ref.id, job.id);
        assertEquals(listed[0].combination, "k=1");
        assertEquals(listed[0].status.state, "running");
        const log = await dexp(["jobs", "log", job.id, "--hosts", runDir]);
        assertEquals(log.code, 0, log.err);
        assertEquals(log.out, "hello\n");

        const second = spawn(s, ["--resume"]);
        let out: Deno.CommandOutput | undefined;
        try {
          await whileRunning(
            second,
            "the second runner's detach",
            async () => (await lines(s.marks)).length === 2,
          );
          // The take-back of the dead attempt ran and spared the job: same session, one run.
          assertEquals(await theJob(s), job);
          assert((await sessionProcs(sid)).includes(sid), "the take-back killed the job");
          assertEquals(await lines(s.counter), ["run"]);
          await Deno.writeTextFile(s.go, "");
          out = await second.output();
        } finally {
          if (!out) await reap(second);
        }
        const text = dec.decode(out.stdout) + dec.decode(out.stderr);
        assertEquals(out.code, 0, text);
        assertStringIncludes(
          text,
          "took over from a previous owner: ended 0 leftover process(es) on h1",
        );
        assertStringIncludes(text, "took back 1 detached job(s) 'dj' started by attempt 1");
        assertEquals(await lines(s.counter), ["run"]);
        const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
        assertEquals(result.outcome, "ok");
        assertEquals(result.jobs.length, 1);
        assertEquals(result.jobs[0].id, job.id);
        assertEquals(result.jobs[0].state, "exited");
        assertEquals(result.jobs[0].exitCode, 3);
        assertEquals(result.jobs[0].stdout, "hello\nbye\n");
        assertEquals(result.jobs[0].reattached, true);
        assertEquals(JSON.parse(await Deno.readTextFile(join(combo, "seen.json"))), {
          code: 3,
          out: "hello\nbye\n",
        });
        // Recorded, then forgotten: nothing left on the host or in the combination's folder.
        assert(!(await exists(join(combo, "jobs.json"))));
        assert(!(await exists(`${s.abs}/${job.id}`)), "the job folder is left");
        assertEquals(await sessionProcs(sid), []);
      } finally {
        if (sid) { for (const p of await sessionProcs(sid)) Deno.kill(p, "SIGKILL"); }
        await cleanup(s);
      }
    },
  );
}

sshTest("Ctrl-C of dexp run kills the combination's detached job on the host", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const s = await setup(
    (s) => `echo run >> ${s.counter}; while :; do sleep 0.1; done`,
    { tb, user: USERS.dash },
  );
  let sid = 0;
  try {
    const run = spawn(s, []);
    let out: Deno.CommandOutput | undefined;
    try {
      await whileRunning(run, "the detach", async () => (await lines(s.marks)).length === 1);
      sid = (await theJob(s)).sid;
      assert((await sessionProcs(sid)).includes(sid), "the job is not running");
      run.kill("SIGINT");
      out = await run.output();
    } finally {
      if (!out) await reap(run);
    }
    // Ended on the host by the time dexp run exits; its folder and record are gone.
    assertEquals(await sessionProcs(sid), [], dec.decode(out.stdout) + dec.decode(out.stderr));
    const combo = join(await runDirOf(s), "k=1");
    assert(!(await exists(join(combo, "jobs.json"))));
    assertEquals([...Deno.readDirSync(s.abs)].filter((e) => !e.name.startsWith(".")), []);
  } finally {
    if (sid) { for (const p of await sessionProcs(sid)) Deno.kill(p, "SIGKILL"); }
    await cleanup(s);
  }
});

/** Kills every process of a session and waits until none is left. */
async function killSession(sid: number): Promise<void> {
  await waitFor("the end of the session", async () => {
    const left = await sessionProcs(sid);
    for (const p of left) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* gone */ }
    }
    return left.length === 0 || undefined;
  }, { deadline: 90_000 });
}

Deno.test("a detached job lost while no runner watched fails the resumed attempt with the reason", async () => {
  const s = await setup(
    (s) => `echo run >> ${s.counter}; while :; do sleep 0.1; done`,
    { wait: true },
  );
  let sid = 0;
  try {
    const first = spawn(s, []);
    try {
      await whileRunning(first, "the detach", async () => (await lines(s.marks)).length === 1);
    } finally {
      await reap(first);
    }
    sid = (await theJob(s)).sid;
    // Killed behind dexp's back while no runner runs: the supervisor writes no exit status.
    await killSession(sid);
    const out = await spawn(s, ["--resume"]).output();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    assertEquals(out.code, 1, text);
    const combo = join(await runDirOf(s), "k=1");
    const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
    assertEquals(result.outcome, "failed");
    assertStringIncludes(result.error, "supervisor gone");
    assertEquals(result.jobs[0].state, "lost");
    assertEquals(result.jobs[0].failure, "lost");
    assertEquals(result.jobs[0].reattached, true);
    // Taken back, not started again.
    assertEquals(await lines(s.counter), ["run"]);
    assertEquals(await lines(s.marks).then((l) => l.length), 2);
    assert(!(await exists(join(combo, "jobs.json"))));
  } finally {
    if (sid) await killSession(sid).catch(() => {});
    await cleanup(s);
  }
});

Deno.test("a resumed body whose ctx.detach() call differs ends the dead runner's job and starts its own", async () => {
  const s = await setup((s) => `echo old >> ${s.counter}; while :; do sleep 0.1; done`);
  let sid = 0;
  try {
    const first = spawn(s, []);
    try {
      await whileRunning(first, "the detach", async () => (await lines(s.marks)).length === 1);
    } finally {
      await reap(first);
    }
    sid = (await theJob(s)).sid;
    assert((await sessionProcs(sid)).includes(sid), "the job is not running");
    await writeExperiment(s, `echo new >> ${s.counter}; echo fresh`);
    const out = await spawn(s, ["--resume"]).output();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    assertEquals(out.code, 0, text);
    // The old job was ended on the host (not left running beside the new one).
    assertEquals(await sessionProcs(sid), []);
    assertEquals(await lines(s.counter), ["old", "new"]);
    const combo = join(await runDirOf(s), "k=1");
    const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
    assertEquals(result.outcome, "ok");
    assertEquals(result.jobs.length, 1);
    assertEquals(result.jobs[0].reattached, false);
    assertEquals(result.jobs[0].exitCode, 0);
    assertEquals(result.jobs[0].stdout, "fresh\n");
    // Both job folders are gone: the new one forgotten after the attempt, the old one killed.
    assertEquals([...Deno.readDirSync(s.abs)].map((e) => e.name), []);
    assertStringIncludes(text, "ended 1 detached job(s) of an earlier attempt");
  } finally {
    if (sid) await killSession(sid).catch(() => {});
    await cleanup(s);
  }
});

Deno.test("a timed-out attempt kills its detached job", async () => {
  const s = await setup((s) => `echo run >> ${s.counter}; while :; do sleep 0.1; done`);
  let sid = 0;
  try {
    const text = await Deno.readTextFile(s.file);
    // A timeout long enough for the start, short enough for the test.
    await Deno.writeTextFile(
      s.file,
      text.replace(`{ params: { k: [1] },`, `{ params: { k: [1] }, timeout: 3000,`),
    );
    const run = spawn(s, []);
    let out: Deno.CommandOutput | undefined;
    try {
      await whileRunning(run, "the detach", async () => (await lines(s.marks)).length === 1);
      sid = (await theJob(s)).sid;
      out = await run.output();
    } finally {
      if (!out) await reap(run);
    }
    const all = dec.decode(out.stdout) + dec.decode(out.stderr);
    assertEquals(out.code, 1, all);
    assertEquals(await sessionProcs(sid), []);
    const combo = join(await runDirOf(s), "k=1");
    const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
    assertStringIncludes(result.error, "timed out after 3000 ms");
    assertEquals(result.jobs[0].state, "killed");
  } finally {
    if (sid) await killSession(sid).catch(() => {});
    await cleanup(s);
  }
});

Deno.test("dexp jobs kill and forget on a results folder end and remove its recorded jobs", async () => {
  const s = await setup((s) => `echo run >> ${s.counter}; while :; do sleep 0.1; done`);
  let sid = 0;
  try {
    const first = spawn(s, []);
    try {
      await whileRunning(first, "the detach", async () => (await lines(s.marks)).length === 1);
    } finally {
      await reap(first);
    }
    const job = await theJob(s);
    sid = job.sid;
    const runDir = await runDirOf(s);
    const kill = await dexp(["jobs", "kill", runDir, "--grace", "100"]);
    assertEquals(kill.code, 0, kill.err);
    assertStringIncludes(kill.out, `${job.id} killed`);
    assertEquals(await sessionProcs(sid), []);
    assert(await exists(join(s.abs, job.id)), "kill removed the folder");
    const forget = await dexp(["jobs", "forget", join(s.results, "dj"), "--json"]);
    assertEquals(forget.code, 0, forget.err);
    assertEquals(JSON.parse(forget.out).map((f: { ref: { id: string } }) => f.ref.id), [job.id]);
    assert(!(await exists(join(s.abs, job.id))), "forget left the folder");
    // A folder that is not a results folder is refused with a clear error.
    const bad = await dexp(["jobs", "ls", s.abs]);
    assertEquals(bad.code, 2, bad.out + bad.err);
    assertStringIncludes(bad.err, "neither a run folder");
  } finally {
    if (sid) await killSession(sid).catch(() => {});
    await cleanup(s);
  }
});
