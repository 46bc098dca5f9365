/**
 * Detached jobs inside experiments (`ctx.detach()`), on the sshd testbed: `dexp run` is
 * SIGKILLed while a combination's detached job runs, `dexp run --resume` takes the job back
 * (it runs exactly once, checked on the host) and records its result; a start still on its
 * way when the runner was killed is fenced off; Ctrl-C kills the job; `dexp jobs` works on a
 * results folder.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes, waitFor } from "./assert.ts";
import { sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import { isGone, readCmdline } from "./harness/_proc.ts";
import { bootId, heldOnFifo, makeFifo, releaseFifo } from "./harness/fifo.ts";
import {
  BOOT_ENV,
  cleanup,
  CONFIG,
  dec,
  exists,
  lines,
  MAIN,
  reap,
  runDirOf,
  sessionProcs,
  setup,
  spawn,
  theJob,
  whileRunning,
  writeExperiment,
} from "./_jobs_runs.ts";

async function dexp(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${CONFIG}`, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
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
      let sup = 0;
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
        ({ sid, sup } = job);
        assertEquals(recorded.entries[0].jobs[0].ref.id, job.id);
        // The job outlived the runner (checked on the host).
        assert((await sessionProcs(sid)).includes(sup), "the supervisor is gone");
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
          assert((await sessionProcs(sid)).includes(sup), "the take-back killed the job");
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
  let sup = 0;
  try {
    const run = spawn(s, []);
    let out: Deno.CommandOutput | undefined;
    try {
      await whileRunning(run, "the detach", async () => (await lines(s.marks)).length === 1);
      ({ sid, sup } = await theJob(s));
      assert((await sessionProcs(sid)).includes(sup), "the job is not running");
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
  let sup = 0;
  try {
    const first = spawn(s, []);
    try {
      await whileRunning(first, "the detach", async () => (await lines(s.marks)).length === 1);
    } finally {
      await reap(first);
    }
    ({ sid, sup } = await theJob(s));
    assert((await sessionProcs(sid)).includes(sup), "the job is not running");
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
    // Both job folders are gone: the new one forgotten after the attempt, the old one killed;
    // and so are their name claims (only the claims' folder stays).
    assertEquals([...Deno.readDirSync(s.abs)].map((e) => e.name), [".names"]);
    assertEquals([...Deno.readDirSync(join(s.abs, ".names"))].map((e) => e.name), []);
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

Deno.test("dexp run SIGKILLed while a detached start is on its way: --resume fences it off and runs the job once", async () => {
  const s = await setup((s) => `echo run >> ${s.counter}; echo out`);
  try {
    // The first runner's start is held on the host: its boot-id read blocks on a FIFO.
    const fifo = join(s.dir, "boot_id");
    await makeFifo(fifo);
    const first = spawn(s, [], { [BOOT_ENV]: fifo });
    let held: { pid: number; starttime: number } | undefined;
    try {
      held = await heldOnFifo(async (p) => (await readCmdline(p.pid))?.includes(s.root) ?? false);
    } finally {
      await reap(first);
    }
    // What the killed runner left: the entry written before the start, pending.
    const combo = join(await runDirOf(s), "k=1");
    const before = JSON.parse(await Deno.readTextFile(join(combo, "jobs.json")));
    assertEquals(before.entries.length, 1);
    assert(before.entries[0].pending?.claim, JSON.stringify(before));
    assertEquals(before.entries[0].jobs, []);

    const real = join(s.dir, "boot_id.real");
    await Deno.writeTextFile(real, await bootId());
    const out = await spawn(s, ["--resume"], { [BOOT_ENV]: real }).output();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    assertEquals(out.code, 0, text);
    assertEquals(await lines(s.counter), ["run"]);

    // Let the held start go on: its key is fenced off, it runs nothing and removes its folder.
    await releaseFifo(fifo, await bootId());
    await waitFor("the held start to end", async () => await isGone(held.pid, held.starttime));
    assertEquals(await lines(s.counter), ["run"], "the job ran once");
    const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
    assertEquals(result.outcome, "ok");
    assertEquals(result.jobs.map((j: { reattached: boolean }) => j.reattached), [false]);
    assertEquals([...Deno.readDirSync(s.abs)].filter((e) => !e.name.startsWith(".")), []);
  } finally {
    await cleanup(s);
  }
});
