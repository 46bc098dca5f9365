/**
 * The ssh layer against real sshd processes on loopback (tests/harness/sshd.ts).
 */
import { detachedMasters } from "./harness/masters.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { writeProgram } from "./harness/program.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import {
  closeConnections,
  cmd,
  ConnectError,
  ExpectError,
  GroupError,
  type Hosts,
  hosts,
  hostsFromFile,
  sh,
  TimeoutError,
} from "../mod.ts";
import { connectionStats, resetConnectionStats } from "../src/ssh/mod.ts";

function nodes(tb: Testbed, user: string = USERS.dash): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

/** Runs a raw ssh command on host i (no dexp), for checks from the outside. */
async function raw(tb: Testbed, i: number, command: string): Promise<string> {
  const out = await new Deno.Command("ssh", { args: [...tb.sshArgs(i), command] }).output();
  return new TextDecoder().decode(out.stdout);
}

/** The ssh masters (ControlMaster=yes) still running for this testbed's hosts. */
async function mastersOf(tb: Testbed): Promise<string> {
  const out = await new Deno.Command("pgrep", {
    args: ["-f", `UserKnownHostsFile=${tb.knownHosts}.*ControlMaster=yes`],
  }).output();
  // Also the masters in the background, renamed `ssh: SOCKET [mux]`.
  const detached = (await detachedMasters(tb)).map((l) => l.split(" ")[0]);
  return [...new TextDecoder().decode(out.stdout).trim().split("\n"), ...detached]
    .filter((l) => l !== "").join("\n");
}

const INJECTIONS = ["'; echo INJECTED #", "$(id)", "`id`", "a\nb", "*", "日本語 ü", "", "\\", '"'];

for (const shell of ["dash", "bash"] as const) {
  sshTest(`commands run on every host, in order, as the ${shell} user`, async () => {
    await using tb = await startTestbed({ hosts: 4 });
    await using n = nodes(tb, USERS[shell]);
    const r = await n.run("echo $0; whoami").quiet();
    assertEquals(r.results.map((x) => x.target), ["h1", "h2", "h3", "h4"]);
    const expectShell = shell === "dash" ? "sh" : "bash";
    for (const x of r.results) assertEquals(x.lines(), [expectShell, USERS[shell]]);
    assertEquals(r.ok, true);
  });

  sshTest(`sh-quoted values and argv arrive literally under ${shell}`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, USERS[shell]);
    const expected = INJECTIONS.map((a) => `<${a}>\n`).join("");
    const viaSh = await n.run(sh`printf '<%s>\n' ${INJECTIONS}`).quiet();
    assertEquals(viaSh.get(0).stdout, expected);
    const viaArgv = await n.run(["printf", "<%s>\\n", ...INJECTIONS]).quiet();
    assertEquals(viaArgv.get(0).stdout, expected);
    const perHost = await n.run((h, i) => sh`echo ${h.name} ${i} ${"$HOME"}`).quiet();
    assertEquals(perHost.text(), ["h1 0 $HOME"]);
  });
}

sshTest("env, cwd, stdin, text/lines/json and handlers work remotely", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = nodes(tb);
  const h = n.at(0);
  assertEquals(
    await h.run("echo $A-$B; pwd").env({ A: "x y", B: "'q'" }).cwd("/tmp").lines(),
    ["x y-'q'", "/tmp"],
  );
  assertEquals((await h.run("cat").stdin(["l1", "l2"]).quiet()).stdout, "l1\nl2\n");
  assertEquals(await h.run(`echo '{"k": 1}'`).json(), { k: 1 });
  const seen: string[] = [];
  await n.run("echo out; echo err >&2").quiet().onStdout((l, i) => seen.push(`${i.target}:${l}`))
    .onStderr((l, i) => seen.push(`${i.target}!${l}`));
  assertEquals(seen.sort(), ["h1!err", "h1:out", "h2!err", "h2:out"]);
  const piped = h.run("read x; echo got $x").stdin("piped").quiet().spawn();
  await piped.writeLine("hello");
  await piped.closeStdin();
  assertEquals((await piped).text(), "got hello");
  // A remote exit code of 255 after the command started is the command's, not ssh's.
  const r = await h.run("exit 255").quiet().noThrow();
  assertEquals([r.failure, r.exitCode], ["exit", 255]);
});

sshTest("a second command reuses the connection: one login for ten commands", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb);
  for (let i = 0; i < 10; i++) await n.run("true").quiet();
  await n.put([new URL(import.meta.url).pathname], "/tmp/dexp-reuse-test");
  await n.run("rm -rf /tmp/dexp-reuse-test").quiet();
  const log = await Deno.readTextFile(tb.daemonLog(0));
  assertEquals(log.match(/Accepted publickey/g)?.length, 1);
  // Without reuse every command logs in again.
  await using direct = n.with({ reuse: false });
  for (let i = 0; i < 3; i++) await direct.run("true").quiet();
  const after = await Deno.readTextFile(tb.daemonLog(0));
  assertEquals(after.match(/Accepted publickey/g)?.length, 4);
});

sshTest("kill() ends the remote command and its children on the host", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = nodes(tb);
  // A duration no other test uses: pgrep sees every process of this machine, other
  // worktrees' runs of this test included.
  const secs = 1000 + Math.floor(Math.random() * 8000);
  const g = n.run(`sleep ${secs} & echo child $!; echo ready; sleep ${secs}.5`).quiet().spawn();
  const m = await g.expect(/child (\d+)/, { timeout: 10_000 });
  await g.expect("ready");
  const pids = m.map((x) => x.match![1]);
  for (const [i, pid] of pids.entries()) {
    assertMatch(await raw(tb, i, `ps -o stat= -p ${pid}`), /^S/);
  }
  await g.kill();
  const r = await g.result();
  assertEquals(r.results.map((x) => x.failure), ["killed", "killed"]);
  for (const [i, pid] of pids.entries()) {
    // Gone, or a zombie not yet reaped.
    const state = (await raw(tb, i, `ps -o stat= -p ${pid} || true`)).trim();
    assert(state === "" || state.startsWith("Z"), `remote pid ${pid} still ${state}`);
    assertEquals((await raw(tb, i, `pgrep -f '[s]leep ${secs}' || true`)).trim(), "");
  }
});

sshTest("a timeout ends the remote command too", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb);
  const e = await assertRejects(
    () => n.at(0).run("sleep 302 & sleep 303").quiet().timeout(500),
    TimeoutError,
  );
  assert(e.result.timedOut);
  assertEquals((await raw(tb, 0, "pgrep -f 'sleep 30[23]' || true")).trim(), "");
});

sshTest("expect on a remote server, then clients, then kill", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = nodes(tb);
  const srv = n.run("echo booting; sleep 0.2; echo 'Server listening'; sleep 100").quiet().spawn();
  const matches = await srv.expect("Server listening", { timeout: 10_000 });
  assertEquals(matches.length, 2);
  await assertRejects(() => srv.expect("never", { timeout: 100 }), ExpectError);
  await srv.kill();
});

sshTest("a stopped host is a connect error while the others succeed", async () => {
  await using tb = await startTestbed({ hosts: 4 });
  await tb.stopDaemon(tb.hosts[2].daemon);
  await using n = nodes(tb);
  const e = await assertRejects(() => n.run("echo hi").quiet(), GroupError);
  const r = e.result;
  assertEquals(r.text(), ["hi", "hi", "", "hi"]);
  assertEquals(r.get(2).failure, "connect");
  assertMatch(r.get(2).reason!, /Connection refused/);
  assertMatch(e.message, /Could not connect to h3/);
  const single = await assertRejects(() => n.at(2).run("true").quiet(), ConnectError);
  assertEquals(single.kind, "connect");
  const checks = await n.check();
  assertEquals(checks.map((c) => c.ok), [true, true, false, true]);
  assertMatch(checks[2].reason!, /refused/);
});

sshTest("unknown host keys and bad credentials are connect errors with the reason", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const empty = `${tb.dir}/empty_known_hosts`;
  await Deno.writeTextFile(empty, "");
  await using strict = nodes(tb).with({ knownHosts: empty });
  const r1 = await strict.run("true").quiet().noThrow();
  assertEquals(r1.get(0).failure, "connect");
  assertMatch(r1.get(0).reason!, /Host key verification failed/);
  await using badUser = nodes(tb).with({ user: "nobody-dexp" });
  const r2 = await badUser.run("true").quiet().noThrow();
  assertEquals(r2.get(0).failure, "connect");
  assertMatch(r2.get(0).reason!, /Permission denied/);
  // accept-new (the default) records a new host and goes on.
  await using acceptNew = nodes(tb).with({
    knownHosts: empty,
    strictHostKeyChecking: "accept-new",
  });
  assertEquals((await acceptNew.run("echo ok").quiet()).text(), ["ok"]);
  assertMatch(await Deno.readTextFile(empty), /ssh-ed25519/);
});

sshTest("64 hosts with a connection window of 8", async () => {
  await using tb = await startTestbed({ hosts: 64 });
  await using n = nodes(tb).with({ connectWindow: 8 });
  resetConnectionStats();
  const r = await n.run((h) => `echo ${h.name}`).quiet();
  assertEquals(r.text(), tb.hosts.map((h) => h.name));
  const s = connectionStats();
  assertEquals(s.setups, 64);
  assert(s.peakSetups <= 8, `peak ${s.peakSetups} setups at once`);
  assert(s.peakSetups >= 2, "the window was never used");
});

sshTest("put and get copy files and folders, modes kept, per-host destinations", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = nodes(tb);
  const local = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${local}/src/sub`, { recursive: true });
    await Deno.writeTextFile(`${local}/src/run.sh`, "#!/bin/sh\necho run\n");
    await Deno.chmod(`${local}/src/run.sh`, 0o750);
    await Deno.writeTextFile(`${local}/src/sub/data.txt`, "data\n");
    const remote = `/tmp/dexp-put-{host}-${crypto.randomUUID()}`;
    const put = await n.put([`${local}/src`], remote);
    assertEquals(put.ok, true);
    const check = await n.run((h) =>
      sh`stat -c %a ${remote.replace("{host}", h.name)}/src/run.sh; cat ${
        remote.replace("{host}", h.name)
      }/src/sub/data.txt`
    ).quiet();
    for (const x of check.results) assertEquals(x.lines(), ["750", "data"]);
    await n.run((h) => sh`echo ${h.name} > ${remote.replace("{host}", h.name)}/out.txt`).quiet();
    const got = await n.get([`${remote}/out.txt`, `${remote}/src`], `${local}/results/{host}/`);
    assertEquals(got.ok, true);
    for (const h of ["h1", "h2"]) {
      assertEquals(await Deno.readTextFile(`${local}/results/${h}/out.txt`), `${h}\n`);
      assertEquals((await Deno.stat(`${local}/results/${h}/src/run.sh`)).mode! & 0o777, 0o750);
    }
    // rsync does the same.
    const viaRsync = await n.get(`${remote}/out.txt`, `${local}/rsync/{host}`, { rsync: true });
    assertEquals(viaRsync.ok, true);
    assertEquals(await Deno.readTextFile(`${local}/rsync/h2/out.txt`), "h2\n");
    // Clear errors: a missing local file, one folder for many hosts, an unreachable host.
    const missing = await n.put(`${local}/nope.txt`, "/tmp").noThrow();
    assertEquals(missing.get(0).failure, "spawn");
    assertMatch(missing.get(0).reason!, /Local file '.*nope.txt' does not exist/);
    let msg = "";
    try {
      n.get("/etc/hostname", `${local}/mixed`);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /put \{host\} in it/);
    await tb.stopDaemon(tb.hosts[1].daemon);
    await closeConnections();
    const down = await n.put(`${local}/src/run.sh`, "/tmp").noThrow();
    assertEquals(down.results.map((x) => x.failure), [null, "connect"]);
  } finally {
    await Deno.remove(local, { recursive: true });
    // The hosts are this machine: remove what the test put there.
    await cmd(["sh", "-c", "rm -rf /tmp/dexp-put-h[12]-*; rm -f /tmp/run.sh"]).quiet().noThrow();
  }
});

sshTest("host list files, selection by index, name, tag and predicate", async () => {
  await using tb = await startTestbed({ hosts: 3 });
  const dir = await Deno.makeTempDir();
  try {
    const [a, b, c] = tb.hosts;
    await Deno.writeTextFile(
      `${dir}/hosts.yaml`,
      [
        "defaults:",
        `  user: ${USERS.bash}`,
        `  keyfile: ${tb.keyfile}`,
        `  knownHosts: ${tb.knownHosts}`,
        "hosts:",
        `  - { address: "${a.address}", port: ${a.port}, name: a, tags: [gpu] }`,
        `  - { address: "${USERS.dash}@${b.address}:${b.port}", name: b, tags: { rack: r2 } }`,
        `  - "${c.address}:${c.port}"`,
      ].join("\n"),
    );
    await using n = await hostsFromFile(`${dir}/hosts.yaml`);
    assertEquals(n.targets.map((h) => h.name), ["a", "b", `${c.address}:${c.port}`]);
    assertEquals(await n.tagged("gpu").run("whoami").quiet().text(), [USERS.bash]);
    assertEquals(await n.tagged("rack", "r2").run("whoami").quiet().text(), [USERS.dash]);
    assertEquals(n.where((h) => h.port === c.port && !h.tags.gpu).length, 2);
    assertEquals(n.named("b").at(0).address, b.address);
    assertEquals(n.slice(1).length, 2);
    await Deno.writeTextFile(`${dir}/hosts.txt`, `# lab\n${a.address}:${a.port} gpu rack=r1\n`);
    const plain = await hostsFromFile(`${dir}/hosts.txt`);
    assertEquals(plain.at(0).tags, { gpu: true, rack: "r1" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

sshTest("an idle shared connection is checked, and replaced once it has expired", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb).with({ controlPersist: "3s" });
  const logins = async () =>
    (await Deno.readTextFile(tb.daemonLog(0))).match(/Accepted publickey/g)?.length ?? 0;
  assertEquals((await n.run("echo 1").quiet()).text(), ["1"]);
  // Idle past 80% of ControlPersist, master still alive: asked, then reused.
  await new Promise((r) => setTimeout(r, 2500));
  assertEquals((await n.run("echo 2").quiet()).text(), ["2"]);
  // Idle past ControlPersist: the master is gone, a new one is set up on a new path.
  await new Promise((r) => setTimeout(r, 4500));
  assertEquals((await n.run("echo 3").quiet()).text(), ["3"]);
  assertEquals((await n.run("echo 4").quiet()).text(), ["4"]);
  const count = await logins();
  assert(count >= 2 && count <= 3, `${count} logins`);
});

sshTest("ProxyJump and an ssh_config file (-F) reach a host through another", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = hosts({
    address: "h2",
    name: "via-h1",
    configFile: tb.sshConfig,
    proxyJump: "h1",
  });
  const r = await n.run("echo $SSH_CONNECTION").quiet();
  assertEquals(r.get(0).target, "via-h1");
  // h2 sees the connection coming from h1's sshd, and h1's sshd logged the jump.
  const jumpLog = await Deno.readTextFile(tb.daemonLog(tb.hosts[0].daemon));
  assertEquals(jumpLog.match(/Accepted publickey/g)?.length, 1);
  assertMatch(r.get(0).text(), new RegExp(` ${tb.hosts[1].address.replaceAll(".", "\\.")} `));
});

sshTest("await using closes the shared connections of the group", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await closeConnections();
  {
    await using n = nodes(tb);
    await n.run("true").quiet();
    assertEquals(connectionStats().open, 2);
    assertEquals((await mastersOf(tb)).split("\n").length, 2);
  }
  assertEquals(connectionStats().open, 0);
  assertEquals(await mastersOf(tb), "");
});

sshTest("SIGTERM to a program stops its local and remote processes before it exits", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  const dir = await Deno.makeTempDir();
  try {
    const [program, ...args] = await writeProgram(
      tb,
      dir,
      `const remote = n.run("sleep 305 & sleep 306").quiet().spawn();
const local = cmd("sleep 307 & sleep 308").quiet().spawn();
await remote.expect(/never/, { timeout: 1500 }).catch(() => {});
console.log("ready");
await remote;
await local;
`,
    );
    const child = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    // If an assertion fails before the SIGTERM, do not leave the program running.
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    let out = "";
    while (!out.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    assertEquals((await raw(tb, 0, "pgrep -fc '^sleep 30[56]$' || true")).trim(), "4");
    child.kill("SIGTERM");
    const status = await child.status;
    clearTimeout(guard);
    await reader.cancel();
    const err = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
    assertEquals(status.code, 143, err);
    assertMatch(err, /SIGTERM: stopping 3 running process/);
    // Gone, or zombies that PID 1 has not reaped yet.
    const alive = await raw(
      tb,
      0,
      "for p in $(pgrep -f '^sleep 30[5678]$'); do ps -o pid=,stat=,args= -p $p; done | grep -v ' Z' || true",
    );
    assertEquals(alive.trim(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

sshTest("dexp hosts check: reachable hosts, and the reason for each that is not", async () => {
  await using tb = await startTestbed({ hosts: 3 });
  await tb.stopDaemon(tb.hosts[1].daemon);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/hosts.yaml`;
    await Deno.writeTextFile(
      file,
      `defaults: { user: ${USERS.dash}, keyfile: ${tb.keyfile}, knownHosts: ${tb.knownHosts} }\nhosts:\n` +
        tb.hosts.map((h) => `  - { name: ${h.name}, address: "${h.address}", port: ${h.port} }`)
          .join("\n"),
    );
    const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "hosts", "check", "--json", file],
    }).output();
    assertEquals(r.code, 1);
    const checks = JSON.parse(new TextDecoder().decode(r.stdout));
    assertEquals(checks.map((c: { host: string; ok: boolean }) => [c.host, c.ok]), [
      ["h1", true],
      ["h2", false],
      ["h3", true],
    ]);
    assertMatch(checks[1].reason, /Connection refused/);
    const usage = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "hosts", "check", `${dir}/missing.txt`],
    }).output();
    assertEquals(usage.code, 2);
    assertMatch(new TextDecoder().decode(usage.stderr), /Host file '.*missing.txt' does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

sshTest("a host that accepts TCP but never speaks ssh is a connect timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    await using n = hosts(`127.0.0.1:${port}`).with({ connectTimeout: "1s" });
    const r = await n.run("true").quiet().noThrow();
    assertEquals(r.get(0).failure, "connect");
    assertMatch(r.get(0).reason!, /timed out/);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
  }
});

sshTest(
  "commands that find an expired master at once set up one new master, not several",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    const h = tb.hosts[0];
    const spec = { address: h.address, port: h.port, name: h.name };
    await using n = hosts(spec, spec, spec, spec, spec).with({
      user: USERS.dash,
      keyfile: tb.keyfile,
      knownHosts: tb.knownHosts,
      controlPersist: "2s",
    });
    await n.at(0).run("true").quiet();
    await new Promise((r) => setTimeout(r, 3500));
    assertEquals((await n.run("echo x").quiet()).text(), ["x", "x", "x", "x", "x"]);
    const log = await Deno.readTextFile(tb.daemonLog(0));
    assertEquals(log.match(/Accepted publickey/g)?.length, 2);
  },
);

sshTest("a program that ends without closing its connections leaves no master behind", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  const dir = await Deno.makeTempDir();
  try {
    const [program, ...args] = await writeProgram(
      tb,
      dir,
      `await n.run("true").quiet();\nconsole.log("ran");\n`,
    );
    const r = await new Deno.Command(program, { args }).output();
    assertEquals(new TextDecoder().decode(r.stdout).trim(), "ran");
    // The masters are asked to exit as the program ends; give them a moment.
    let left = await mastersOf(tb);
    for (let i = 0; i < 50 && left !== ""; i++) {
      await new Promise((res) => setTimeout(res, 100));
      left = await mastersOf(tb);
    }
    assertEquals(left, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
