/**
 * The README's demo and the remote examples, run for real.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import { cmd, hosts, runExperiments, writeReport } from "../mod.ts";
import { clientServer } from "../examples/client_server.ts";
import { yesKillOn } from "../examples/yes_kill.ts";
import { bandwidth } from "../examples/netcat_bandwidth.ts";

Deno.test("deno task demo: the quickstart runs and prints its report", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const r = await cmd([Deno.execPath(), "task", "demo"]).cwd(root).quiet();
  assertMatch(r.stdout, /squares: 0 1 4 9/);
  assertMatch(r.stdout, /server ready on port 7000/);
  assertMatch(r.stdout, /timed out: true/);
  assertMatch(r.stdout, /^quickstart: \d+ total, \d+ ok, 1 failed .* 1 timed out, 1 killed/m);
});

sshTest("netcat_bandwidth: sinks on every host, a ring of senders, sinks stopped", async () => {
  await using tb = await startTestbed({ hosts: 3 });
  await using nodes = hosts(tb.hosts.map(({ name, address, port }) => ({ name, address, port })))
    .with({ user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts });
  const { links, report } = await bandwidth(nodes, { mb: 5, port: 15001 });
  assertEquals(links.map((l) => `${l.from}->${l.to}`), ["h1->h2", "h2->h3", "h3->h1"]);
  for (const l of links) assert(l.mbPerSecond > 0, `${l.from} measured ${l.mbPerSecond}`);
  assertMatch(report, /netcat_bandwidth: 6 total, 3 ok, 0 failed .* 3 killed/);
  // No sink left running (zombies that PID 1 has not reaped yet count as gone).
  const left = await cmd(
    "for p in $(pgrep -f 's.listen\\(8\\)'); do ps -o stat= -p $p; done | grep -v '^Z' || true",
  ).quiet();
  assertEquals(left.stdout, "");
});

sshTest("client_server: a swept client/server benchmark with a CSV report", async () => {
  await using tb = await startTestbed({ hosts: 4 });
  await using nodes = hosts(tb.hosts.map(({ name, address, port }) => ({ name, address, port })))
    .with({ user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts });
  const results = await Deno.makeTempDir();
  try {
    const summary = await runExperiments([clientServer(nodes)], { results, display: "none" });
    assert(summary.ok, JSON.stringify(summary.experiments[0].failures));
    const table = await writeReport(summary.experiments[0].runDir);
    // 4 combinations: 1 + 3 + 1 + 3 client rows.
    assertEquals(table.rows.length, 8);
    const csv = await Deno.readTextFile(`${summary.experiments[0].runDir}/results.csv`);
    const header = csv.split("\n")[0].split(",");
    for (const col of ["mb", "clients", "client", "mbps"]) assert(header.includes(col), csv);
    for (const row of table.rows) assert(Number(row.mbps) > 0, JSON.stringify(row));
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});

sshTest(
  "yes_kill: load on the hosts tagged 'load' only, killed after its time, nothing left",
  async () => {
    await using tb = await startTestbed({ hosts: 4 });
    await using nodes = hosts(
      tb.hosts.map(({ name, address, port }, i) => ({
        name,
        address,
        port,
        tags: i % 2 === 0 ? ["load"] : [],
      })),
    ).with({ user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts });
    const results = await Deno.makeTempDir();
    try {
      const summary = await runExperiments([yesKillOn(nodes, { seconds: 1 })], {
        results,
        display: "none",
      });
      assert(summary.ok, JSON.stringify(summary.experiments[0].failures));
      const killed = JSON.parse(
        await Deno.readTextFile(`${summary.experiments[0].runDir}/seconds=1/killed.json`),
      );
      assertEquals(killed, ["h1", "h3"]);
      // None left running (zombies that PID 1 has not reaped yet count as gone). Only the test
      // user's processes count: a `yes` of anyone else on this machine is not the example's.
      const left = await cmd(
        `ps -u ${USERS.dash} -o stat=,comm= | awk '$2 == "yes" && $1 !~ /^Z/' || true`,
      ).quiet();
      assertEquals(left.stdout, "");
    } finally {
      await Deno.remove(results, { recursive: true });
    }
  },
);
