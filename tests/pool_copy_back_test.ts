/**
 * Results copied back from real sshd hosts: paths named by `RESULTS:` lines, checked against
 * the host, placed atomically; a copy that fails leaves nothing half-written and succeeds when
 * tried again, without the job running again.
 */
import { assert, assertEquals, assertMatch, assertRejects, tempDir } from "./assert.ts";
import { homeOf, sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import { Host } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { detach } from "../src/jobs/mod.ts";
import { copyBack, CopyBackError, resultsPaths } from "../src/pool/copy_back.ts";

Deno.test("resultsPaths: RESULTS lines only, in order, once each", () => {
  assertEquals(resultsPaths("x\nRESULTS: a\nRESULTS: b/c\nRESULTS: a\nRESULTS:\n"), ["a", "b/c"]);
});

sshTest(
  "copy-back: RESULTS paths of a detached job land checked in <results>/<job>/; a failed copy is retried",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using results = await tempDir("dexp-pool-results-");
    const h = tb.hosts[0];
    const host = new Host({
      address: h.address,
      port: h.port,
      name: h.name,
      user: USERS.dash,
      keyfile: tb.keyfile,
      knownHosts: tb.knownHosts,
      strictHostKeyChecking: "yes",
    });
    await using node = new Hosts([host]);
    const tag = crypto.randomUUID().slice(0, 8);
    const home = await homeOf(USERS.dash);
    const out = `pool-out-${tag}`;
    try {
      const jobs = await detach(
        node.run(
          `mkdir -p ${out}/sub && seq 1 1000 > ${out}/sub/n.txt && echo hi > ${out}/a.txt && echo one > ${out}.single && chmod 000 ${out}/a.txt && echo RESULTS: ${out} && echo RESULTS: ~/${out}.single && echo runs >> ${out}.count`,
        ),
        { name: "copy" },
      );
      const r = await jobs.jobs[0].wait({ interval: 100 });
      const paths = resultsPaths(r.stdout);
      assertEquals(paths, [out, `${home}/${out}.single`]);

      // a.txt is unreadable on the host: the copy fails, and nothing is left in place.
      const e = await assertRejects(
        () => copyBack(host, { resultsDir: results.path, job: "j1", paths }),
        CopyBackError,
      );
      assertMatch(e.message, /j1/);
      assertEquals([...Deno.readDirSync(results.path)].map((x) => x.name), []);

      // Fixed on the host: the retry copies everything, and the job did not run again.
      await Deno.chmod(`${home}/${out}/a.txt`, 0o644);
      const c = await copyBack(host, { resultsDir: results.path, job: "j1", paths });
      assertEquals(c.dir, `${results.path}/j1`);
      assertEquals(c.files, 3);
      assertEquals(await Deno.readTextFile(`${results.path}/j1/${out}/a.txt`), "hi\n");
      assertEquals(
        (await Deno.readTextFile(`${results.path}/j1/${out}/sub/n.txt`)).split("\n").length,
        1001,
      );
      assertEquals(await Deno.readTextFile(`${results.path}/j1/${out}.single`), "one\n");
      assertEquals(await Deno.readTextFile(`${home}/${out}.count`), "runs\n");

      // A path the job named but never made is a failure that says so.
      const m = await assertRejects(
        () => copyBack(host, { resultsDir: results.path, job: "j2", paths: [`${out}.nope`] }),
        CopyBackError,
      );
      assertMatch(m.message, /does not exist/);
      assert(!(await Deno.stat(`${results.path}/j2`).then(() => true, () => false)));
      await jobs.forget();
    } finally {
      await Deno.remove(`${home}/${out}`, { recursive: true }).catch(() => {});
      await Deno.remove(`${home}/${out}.single`).catch(() => {});
      await Deno.remove(`${home}/${out}.count`).catch(() => {});
    }
  },
);
