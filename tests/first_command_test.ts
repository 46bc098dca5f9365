/**
 * The first command to a host sets up the shared connection itself: one ssh login and one
 * local ssh process, with exit code, remote kill and marker as over an established
 * connection. Real sshd daemons on loopback (tests/harness/sshd.ts).
 */
import { assert, assertEquals } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { type ConnectionParams, type Hosts, hosts } from "../mod.ts";
import { connectionStats } from "../src/ssh/mod.ts";
import { sshSpawns } from "../src/ssh/connections.ts";

function nodes(tb: Testbed, extra: ConnectionParams = {}): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
    ...extra,
  });
}

async function logins(tb: Testbed): Promise<number> {
  const log = await Deno.readTextFile(tb.daemonLog(0));
  return log.match(/Accepted publickey/g)?.length ?? 0;
}

/** Runs a raw ssh command on host i (no dexp), for checks from the outside. */
async function raw(tb: Testbed, i: number, command: string): Promise<string> {
  const out = await new Deno.Command("ssh", { args: [...tb.sshArgs(i), command] }).output();
  return new TextDecoder().decode(out.stdout);
}

sshTest("the first command to a fresh host makes one login and one ssh process", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb);
  const before = sshSpawns();
  const r = await n.run("echo out; echo err >&2; exit 7").quiet().noThrow();
  assertEquals(sshSpawns() - before, 1);
  assertEquals(await logins(tb), 1);
  const x = r.results[0];
  assertEquals(x.exitCode, 7);
  assertEquals(x.failure, "exit");
  assertEquals(x.stdout, "out\n");
  // The marker lines are taken out; ssh's own messages went to the master's log.
  assertEquals(x.stderr, "err\n");

  // A second command reuses the connection: a client, no new login.
  const again = await n.run("echo again").quiet();
  assertEquals(again.text(), ["again"]);
  assertEquals(sshSpawns() - before, 2);
  assertEquals(await logins(tb), 1);
  assertEquals(connectionStats().open >= 1, true);
});

sshTest("concurrent first commands to one host make one login", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb);
  const one = n.at(0);
  const before = sshSpawns();
  const rs = await Promise.all(
    Array.from({ length: 4 }, (_, i) => one.run(`echo ${i}`).quiet()),
  );
  assertEquals(rs.map((r) => r.text()), ["0", "1", "2", "3"]);
  assertEquals(await logins(tb), 1);
  // One ssh process per command, none for a separate master.
  assertEquals(sshSpawns() - before, 4);
});

sshTest("kill() ends a first command, whose ssh is the master, on the host", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb);
  const before = sshSpawns();
  const g = n.run("sleep 310 & echo child $!; echo ready; sleep 311").quiet().spawn();
  const m = await g.expect(/child (\d+)/, { timeout: 30_000 });
  await g.expect("ready");
  assertEquals(sshSpawns() - before, 1);
  assertEquals(await logins(tb), 1);
  const pid = m[0].match![1];
  assert((await raw(tb, 0, `ps -o stat= -p ${pid}`)).trim().startsWith("S"));
  await g.kill();
  const r = await g.result();
  assertEquals(r.results.map((x) => x.failure), ["killed"]);
  const state = (await raw(tb, 0, `ps -o stat= -p ${pid} || true`)).trim();
  assert(state === "" || state.startsWith("Z"), `remote pid ${pid} still ${state}`);
  assertEquals((await raw(tb, 0, "pgrep -f '^sleep 31[01]$' || true")).trim(), "");
  // The master outlived its first command: the next one logs in no more (the checks from
  // the outside above logged in on their own).
  const seen = await logins(tb);
  assertEquals((await n.run("echo after").quiet()).text(), ["after"]);
  assertEquals(await logins(tb), seen);
});

sshTest("with reuse: false every command still logs in on its own", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb, { reuse: false });
  await n.run("true").quiet();
  await n.run("true").quiet();
  assertEquals(await logins(tb), 2);
});

sshTest("a first command whose login the host dropped (MaxStartups) is started again", async () => {
  await using tb = await startTestbed({ hosts: 1, maxStartups: "1:100:1" });
  // An idle TCP connection holds the one unauthenticated slot: logins are dropped until it
  // closes, whatever the timing.
  const hold = await Deno.connect({ hostname: tb.hosts[0].address, port: tb.hosts[0].port });
  const deadline = Date.now() + 60_000;
  const log = () => Deno.readTextFile(tb.daemonLog(0));
  while (Date.now() < deadline && !/Connection from/.test(await log())) {
    await new Promise((res) => setTimeout(res, 20));
  }
  await using n = nodes(tb);
  const before = connectionStats().retries;
  const run = n.run("echo ok").quiet().noThrow().spawn();
  while (Date.now() < deadline && connectionStats().retries === before) {
    await new Promise((res) => setTimeout(res, 20));
  }
  hold.close();
  const r = await run;
  const x = r.results[0];
  assertEquals([x.failure, x.exitCode, x.stdout], [null, 0, "ok\n"]);
  // ssh's complaints about the dropped login went to the master's log, not to the result.
  assertEquals(x.stderr, "");
  assert(connectionStats().retries > before);
});
