/**
 * The adaptive connect window against a real sshd that drops logins under a burst
 * (MaxStartups), tests/harness/sshd.ts.
 */
import { assert, assertEquals, waitFor } from "./assert.ts";
import { sshTest, startTestbed, USERS } from "./harness/sshd.ts";
import { closeConnections, hosts } from "../mod.ts";
// Counters for tests, not public API: from their module (the same instance mod.ts loads).
import { connectionStats, connectWindowStats } from "../src/ssh/connections.ts";

/** A ceiling no other test in this process uses: its window starts fresh here. */
const CEILING = 12;

sshTest(
  "logins dropped under a burst (MaxStartups) are retried, not failed, and shrink the window",
  async () => {
    await using tb = await startTestbed({ hosts: 8, daemons: 1, maxStartups: "2:100:2" });
    // Two idle TCP connections hold both unauthenticated slots: every login is dropped until
    // they close, whatever the timing.
    const hold = await Promise.all(
      [0, 1].map(() => Deno.connect({ hostname: tb.hosts[0].address, port: tb.hosts[0].port })),
    );
    const log = () => Deno.readTextFile(tb.daemonLog(0));
    await waitFor(
      "sshd to see both held connections",
      async () => [...(await log()).matchAll(/Connection from/g)].length >= 2,
    );
    await using n = hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port }))).with({
      user: USERS.dash,
      keyfile: tb.keyfile,
      knownHosts: tb.knownHosts,
      strictHostKeyChecking: "yes",
      connectWindow: CEILING,
    });
    const before = connectionStats().retries;
    assertEquals(connectWindowStats(CEILING).shrinks, 0);
    const run = n.run("echo ok").quiet().noThrow().spawn();
    // A burst of 8 logins, all dropped: the window halves, and again for the retries.
    await waitFor("the window to shrink twice", () => connectWindowStats(CEILING).shrinks >= 2);
    for (const c of hold) c.close();
    const r = await run;
    assertEquals(r.results.map((x) => x.reason), new Array(8).fill(null));
    assertEquals(r.text(), new Array(8).fill("ok"));
    const w = connectWindowStats(CEILING);
    assert(connectionStats().retries - before >= 2, JSON.stringify(connectionStats()));
    assert(w.smallest <= CEILING / 4, JSON.stringify(w));
    // Every host's last login succeeded after the last drop: the window grew back some.
    assert(w.limit > w.smallest, JSON.stringify(w));
    await closeConnections();
  },
);
