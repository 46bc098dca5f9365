/** examples/pool_matrix.ts on the sshd testbed: two classes, a setup, a 3x3 matrix, a CSV. */
import { assertEquals, assertMatch, tempDir } from "./assert.ts";
import { homeOf, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { Host, type HostSpec } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { poolMatrix } from "../examples/pool_matrix.ts";
import { openPool } from "../src/pool/mod.ts";
import { attachJobs } from "../src/jobs/mod.ts";

function spec(tb: Testbed, i: number): HostSpec {
  const h = tb.hosts[i];
  return {
    address: h.address,
    port: h.port,
    name: h.name,
    user: i === 0 ? USERS.dash : USERS.bash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
}

sshTest(
  "examples/pool_matrix.ts: every job done, results copied back, a CSV with the matrix",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = {
      [Symbol.asyncDispose]: () =>
        new Hosts([new Host(spec(tb, 0)), new Host(spec(tb, 1))]).close(),
    };
    await using dir = await tempDir("dexp-pool-example-");
    try {
      const { csv } = await poolMatrix(
        [spec(tb, 0)],
        [spec(tb, 1)],
        `${dir.path}/pool`,
        `${dir.path}/results`,
      );
      const [head, ...rows] = csv.trim().split("\n");
      assertMatch(head, /^id,class,size,threads,/);
      assertEquals(rows.length, 11);
      const state = head.split(",").indexOf("state");
      assertEquals(rows.map((r) => r.split(",")[state]), Array(11).fill("done"));
      for (let id = 1; id <= 9; id++) {
        assertMatch(
          await Deno.readTextFile(`${dir.path}/results/${id}/job${id}/result.txt`),
          /^size=\w+ threads=\d on h1 slot [01]\n$/,
        );
      }
    } finally {
      {
        await using pool = await openPool(`${dir.path}/pool`);
        const refs = (await pool.jobs()).flatMap((j) => j.attempts.map((a) => a.ref))
          .filter((r) => r !== null);
        if (refs.length) await attachJobs(refs).forget().catch(() => {});
      }
      for (const u of [USERS.dash, USERS.bash]) {
        await Deno.remove(`${await homeOf(u)}/dexp-pool-example`, { recursive: true }).catch(
          () => {},
        );
      }
    }
  },
);
