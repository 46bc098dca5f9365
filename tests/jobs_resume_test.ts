/**
 * A combination's detached job that ends while no runner runs: `dexp run` is SIGKILLed, the
 * job ends, `dexp run --resume` takes it back and records its output and exit code without
 * starting it again (checked on the host). On the sshd testbed, under both test users.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes, waitFor } from "./assert.ts";
import { sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import {
  cleanup,
  dec,
  exists,
  lines,
  reap,
  runDirOf,
  sessionProcs,
  setup,
  spawn,
  theJob,
  whileRunning,
} from "./_jobs_runs.ts";

for (const user of [USERS.dash, USERS.bash]) {
  sshTest(
    `a detached job that ended while no runner ran gives its code and output on --resume (${user})`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      const s = await setup(
        (s) =>
          `echo run >> ${s.counter}; echo early; while [ ! -f ${s.go} ]; do sleep 0.1; done; echo late; exit 4`,
        { tb, user },
      );
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
        // No runner runs now: the job ends on its own, as seen on the host.
        await Deno.writeTextFile(s.go, "");
        await waitFor("the job's exit file", () => exists(`${s.abs}/${job.id}/exit`) || undefined);
        await waitFor(
          "the end of the job's session",
          async () => (await sessionProcs(sid)).length === 0 || undefined,
        );
        const out = await spawn(s, ["--resume"]).output();
        const text = dec.decode(out.stdout) + dec.decode(out.stderr);
        assertEquals(out.code, 0, text);
        assertStringIncludes(text, "took back 1 detached job(s) 'dj' started by attempt 1");
        // Taken back, not started again.
        assertEquals(await lines(s.counter), ["run"]);
        const combo = join(await runDirOf(s), "k=1");
        const result = JSON.parse(await Deno.readTextFile(join(combo, "result.json")));
        assertEquals(result.outcome, "ok");
        assertEquals(result.jobs.map((j: { id: string }) => j.id), [job.id]);
        assertEquals(
          [result.jobs[0].state, result.jobs[0].exitCode, result.jobs[0].stdout],
          ["exited", 4, "early\nlate\n"],
        );
        assertEquals(result.jobs[0].reattached, true);
        assertEquals(JSON.parse(await Deno.readTextFile(join(combo, "seen.json"))), {
          code: 4,
          out: "early\nlate\n",
        });
        assert(!(await exists(join(combo, "jobs.json"))));
        assert(!(await exists(`${s.abs}/${job.id}`)), "the job folder is left");
      } finally {
        if (sid) { for (const p of await sessionProcs(sid)) Deno.kill(p, "SIGKILL"); }
        await cleanup(s);
      }
    },
  );
}
