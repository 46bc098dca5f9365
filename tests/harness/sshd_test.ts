import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { isGone, listProcs, readCmdline } from "./_proc.ts";
import { sshTest, startTestbed, type Testbed } from "./sshd.ts";

const dec = new TextDecoder();

async function ssh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await new Deno.Command("ssh", { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/** Processes alive (not zombies) whose command line contains `needle`. */
async function liveWith(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const p of await listProcs()) {
    if (p.state === "Z" || p.pid === Deno.pid) continue;
    if ((await readCmdline(p.pid))?.includes(needle)) found.push(p.pid);
  }
  return found;
}

/** The listeners and session processes of a testbed: descendants of its daemons. */
async function treeOf(tb: Testbed): Promise<number[]> {
  const procs = await listProcs();
  const result = new Set<number>();
  for (let d = 0; d < tb.daemons.length; d++) {
    const pid = tb.daemonPid(d);
    if (pid !== null) result.add(pid);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (result.has(p.ppid) && !result.has(p.pid)) {
        result.add(p.pid);
        grew = true;
      }
    }
  }
  return [...result];
}

async function allGone(pids: number[]): Promise<boolean> {
  return (await Promise.all(pids.map((p) => isGone(p)))).every((g) => g);
}

sshTest("each user gets its login shell on each of 4 hosts, host keys checked", async () => {
  await using tb = await startTestbed({ hosts: 4 });
  assertEquals(tb.hosts.map((h) => h.name), ["h1", "h2", "h3", "h4"]);
  assertEquals(new Set(tb.hosts.map((h) => h.address)).size, 4);
  for (const h of tb.hosts) assertMatch(h.address, /^127\.\d+\.\d+\.\d+$/);
  assertEquals((await Deno.readTextFile(tb.knownHosts)).trim().split("\n").length, 4);

  const expected = [
    [tb.users.dash, "sh", "/usr/bin/dash"],
    [tb.users.bash, "bash", "/usr/bin/bash"],
  ];
  const jobs = tb.hosts.flatMap((h, i) =>
    expected.map(async ([user, zero, exe]) => {
      const r = await ssh([
        ...tb.sshArgs(i, user),
        'echo "$0"; readlink /proc/$$/exe; id -un; echo "$SSH_CONNECTION"',
      ]);
      assertEquals(r.code, 0, `${user}@${h.name}: ${r.stderr}`);
      assertEquals(r.stderr, "");
      const [gotZero, gotExe, gotUser, conn] = r.stdout.trim().split("\n");
      assertEquals([gotZero, gotExe, gotUser], [zero, exe, user], `${user}@${h.name}`);
      assertEquals(conn.split(" ").slice(2), [h.address, String(h.port)]);
    })
  );
  await Promise.all(jobs);

  // The explicit options work without the ssh_config too.
  const h = tb.hosts[2];
  const r = await ssh([
    "-i",
    tb.keyfile,
    "-o",
    `UserKnownHostsFile=${tb.knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-p",
    String(h.port),
    `${tb.users.bash}@${h.address}`,
    "echo ok",
  ]);
  assertEquals([r.code, r.stdout], [0, "ok\n"], r.stderr);

  // Every login is logged.
  let accepted = 0;
  for (let d = 0; d < tb.daemons.length; d++) {
    const log = await Deno.readTextFile(tb.daemonLog(d));
    accepted += log.split("\n").filter((l) => l.startsWith("Accepted publickey for ")).length;
  }
  assertEquals(accepted, 9);
});

sshTest(
  "a stopped daemon refuses connections and kills its sessions; the others work",
  async () => {
    await using tb = await startTestbed({ hosts: 4 });
    assertEquals(tb.daemons.length, 4);
    const down = tb.hosts[1].daemon;
    const marker = `1000.${Date.now() % 1_000_000}${Math.floor(Math.random() * 1000)}`;
    // A session running when the host goes down.
    const session = new Deno.Command("ssh", {
      args: [...tb.sshArgs(1), `sleep ${marker}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; (await liveWith(`sleep ${marker}`)).length === 0; i++) {
      assert(i < 500, "the remote sleep did not start");
      await new Promise((r) => setTimeout(r, 10));
    }

    await tb.stopDaemon(down);
    assertEquals(tb.daemonPid(down), null);
    assertEquals((await session.status).code, 255);
    assertEquals(await liveWith(`sleep ${marker}`), []);

    const results = await Promise.all(tb.hosts.map((_, i) => ssh([...tb.sshArgs(i), "echo up"])));
    assertEquals(results.map((r) => r.code), [0, 255, 0, 0]);
    assertMatch(results[1].stderr, /Connection refused/);

    await tb.stopDaemon(down); // already stopped: nothing happens
    await tb.startDaemon(down);
    await tb.startDaemon(down); // already running: nothing happens
    const again = await ssh([...tb.sshArgs(1, tb.users.bash), "echo back"]);
    assertEquals([again.code, again.stdout], [0, "back\n"], again.stderr);
  },
);

sshTest("64 hosts on 4 daemons all answer", async () => {
  await using tb = await startTestbed({ hosts: 64 });
  assertEquals(tb.hosts.length, 64);
  assertEquals(tb.daemons.length, 4);
  assertEquals(tb.daemons.map((d) => d.hosts.length), [16, 16, 16, 16]);
  assertEquals(new Set(tb.hosts.map((h) => h.address)).size, 64);
  const results = await Promise.all(
    tb.hosts.map((_, i) => ssh([...tb.sshArgs(i), 'echo "$SSH_CONNECTION"'])),
  );
  results.forEach((r, i) => {
    assertEquals(r.code, 0, `h${i + 1}: ${r.stderr}`);
    assertEquals(r.stdout.trim().split(" ")[2], tb.hosts[i].address);
  });
  for (let d = 0; d < 4; d++) {
    const log = await Deno.readTextFile(tb.daemonLog(d));
    assertEquals(log.split("\n").filter((l) => l.startsWith("Accepted publickey ")).length, 16);
  }
});

sshTest("dispose kills daemons and sessions and removes the directory", async () => {
  const tb = await startTestbed({ hosts: 2 });
  const session = new Deno.Command("ssh", {
    args: [...tb.sshArgs(0, tb.users.bash), "sleep 300 & sleep 300; wait"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let tree: number[] = [];
  for (let i = 0; tree.length < 2 + 4; i++) {
    // 2 listeners + privileged, user and shell processes of the session (and its sleeps).
    assert(i < 500, "the session did not start");
    await new Promise((r) => setTimeout(r, 10));
    tree = await treeOf(tb);
  }
  const dir = tb.dir;
  await tb[Symbol.asyncDispose]();
  assertEquals((await session.status).code, 255);
  assert(await allGone(tree), `still running: ${tree}`);
  for (const pid of tree) assert(await isGone(pid));
  assertEquals(await liveWith(dir), []);
  let dirExists = true;
  try {
    await Deno.stat(dir);
  } catch {
    dirExists = false;
  }
  assert(!dirExists, `${dir} still exists`);
  await tb.close(); // twice is fine
});

sshTest("a testbed whose process died is cleaned up by the next one", async () => {
  const url = new URL("./sshd.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { startTestbed } from ${JSON.stringify(url)};
       const tb = await startTestbed({ hosts: 2 });
       console.log(JSON.stringify({ dir: tb.dir, pids: [tb.daemonPid(0), tb.daemonPid(1)] }));
       setInterval(() => {}, 1000);`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  const dead = JSON.parse(text) as { dir: string; pids: number[] };
  assert(!(await allGone(dead.pids)), "the dead process's daemons should still run");

  await using tb = await startTestbed({ hosts: 1 });
  assert(await allGone(dead.pids), "stale daemons were not killed");
  let staleExists = true;
  try {
    await Deno.stat(dead.dir);
  } catch {
    staleExists = false;
  }
  assert(!staleExists, `${dead.dir} was not removed`);
  assertEquals((await ssh([...tb.sshArgs(0), "true"])).code, 0);
});

sshTest("testbeds started at the same time do not collide", async () => {
  const tbs = await Promise.all([1, 2, 3].map(() => startTestbed({ hosts: 3 })));
  try {
    const addrs = tbs.flatMap((tb) => tb.hosts.map((h) => `${h.address}:${h.port}`));
    assertEquals(new Set(addrs).size, 9);
    const codes = await Promise.all(
      tbs.flatMap((tb) => tb.hosts.map((_, i) => ssh([...tb.sshArgs(i), "true"]))),
    );
    assertEquals(codes.map((r) => r.code), new Array(9).fill(0));
  } finally {
    await Promise.all(tbs.map((tb) => tb.close()));
  }
});

sshTest("kexAlgorithms: curve25519 by default, sshd's default with null", async () => {
  const kexOf = async (tb: Testbed) => {
    const r = await ssh([...tb.sshArgs(0), "-v", "true"]);
    assertEquals(r.code, 0, r.stderr);
    return /kex: algorithm: (\S+)/.exec(r.stderr)?.[1];
  };
  {
    await using tb = await startTestbed({ hosts: 1 });
    assertEquals(await kexOf(tb), "curve25519-sha256");
  }
  {
    await using tb = await startTestbed({ hosts: 1, kexAlgorithms: null });
    assertMatch((await kexOf(tb)) ?? "", /^sntrup761x25519-sha512/);
  }
});
