/**
 * Unique job names against real sshd hosts, in both login shells: a start made with
 * `detach(..., { unique: true })` claims its name before it runs anything, so a second start
 * of the name, or one that comes after `claimJobName` fenced the name off, fails and runs
 * nothing; `claimJobName` tells a start that happened from one that never will; forgetting
 * the job frees its name, a fence stays.
 */
import { assert, assertEquals, assertMatch, assertRejects, readLines as lines } from "./assert.ts";
import { homeOf, hostSpec, sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import { claimJobName, detach, GroupError, hosts, listJobs } from "../mod.ts";

for (const shell of ["dash", "bash"] as const) {
  const user = USERS[shell];

  sshTest(
    `[${shell}] a unique name starts one job: a second start, or one after a fence, runs nothing`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      await using n = hosts(hostSpec(tb, 0, user));
      const name = `.dexp-test-claim-${crypto.randomUUID().slice(0, 8)}`;
      const root = `~/${name}`;
      const abs = `${await homeOf(user)}/${name}`;
      const dir = await Deno.makeTempDir({ prefix: "dexp-claim-" });
      await Deno.chmod(dir, 0o777);
      try {
        const runs = `${dir}/runs`;
        const cmd = (tag: string) => n.run(`echo ${tag} >> ${runs}`);

        // The first start claims the name; the claim names its job.
        const first = await detach(cmd("first"), { name: "once", root, unique: true });
        await first.wait({ interval: 50 });
        const c1 = await claimJobName(n, "once", { root });
        assertEquals(c1.state, "started");
        assert(c1.state === "started");
        assertEquals(c1.job.id, first.jobs[0].id);
        assertEquals((await c1.job.status()).state, "exited");

        // A second start of the name fails, says why, runs nothing and leaves no folder.
        const e = await assertRejects(
          () => detach(cmd("second"), { name: "once", root, unique: true }),
          GroupError,
        );
        assertMatch(e.result.results[0].reason ?? "", /its name is taken/);
        assertEquals(await lines(runs), ["first"]);
        assertEquals((await listJobs(n, { root, name: "once" })).length, 1);

        // A fence on a name no start claimed: the late start fails and runs nothing.
        assertEquals((await claimJobName(n, "late", { root })).state, "fenced");
        assertEquals((await claimJobName(n, "late", { root })).state, "fence");
        const late = await detach(cmd("late").noThrow(), { name: "late", root, unique: true });
        assertEquals(late.jobs.length, 0);
        assertMatch(late.failed[0].reason ?? "", /its name is taken/);
        assertEquals(await lines(runs), ["first"]);
        assertEquals((await listJobs(n, { root, name: "late" })).length, 0);

        // Forgetting the job frees its name (its claim is gone); forgetting never lifts a fence.
        await first.forget();
        const again = await detach(cmd("again"), { name: "once", root, unique: true });
        await again.wait({ interval: 50 });
        assertEquals(await lines(runs), ["first", "again"]);
        await again.forget();
        assertEquals((await claimJobName(n, "late", { root })).state, "fence");

        // A start that claimed the name and then lost its folder did not run: "failed".
        const gone = await detach(n.run("sleep 30"), { name: "gone", root, unique: true });
        await gone.kill();
        await Deno.remove(`${abs}/${gone.jobs[0].id}`, { recursive: true });
        const c2 = await claimJobName(n, "gone", { root });
        assertEquals(c2.state === "failed" && c2.id, gone.jobs[0].id);

        // A claim that cannot be written (here the claims folder is read-only; a full disk does
        // the same) is said so, not taken for a name in use, and runs nothing.
        await Deno.chmod(`${abs}/.names`, 0o500);
        const unwritable = await detach(cmd("unwritable").noThrow(), {
          name: "unwritable",
          root,
          unique: true,
        });
        await Deno.chmod(`${abs}/.names`, 0o700);
        assertMatch(unwritable.failed[0].reason ?? "", /cannot write the name's claim/);
        assertEquals(await lines(runs), ["first", "again"]);
        assertEquals((await listJobs(n, { root, name: "unwritable" })).length, 0);

        // Plain starts claim nothing: the same name twice is two jobs.
        const plain = await detach(n.run("true"), { name: "plain", root });
        const plain2 = await detach(n.run("true"), { name: "plain", root });
        assertEquals((await listJobs(n, { root, name: "plain" })).length, 2);
        await plain.forget();
        await plain2.forget();
      } finally {
        await Deno.remove(abs, { recursive: true }).catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}
