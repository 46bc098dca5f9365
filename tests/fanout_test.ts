/**
 * Fan-out: the fast key-exchange profile, connections that outlive the program, logins
 * dropped under a burst, and 1,024 hosts within a soft file-descriptor limit of 1,024. Real
 * sshd daemons on loopback (tests/harness/sshd.ts).
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { writeProgram } from "./harness/program.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import {
  closeConnections,
  type ConnectionParams,
  type Hosts,
  hosts,
  parseHostList,
} from "../mod.ts";
import { connectionStats, resetConnectionStats } from "../src/ssh/mod.ts";

const dec = new TextDecoder();

function nodes(tb: Testbed, extra: ConnectionParams = {}): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
    ...extra,
  });
}

async function logOf(tb: Testbed, daemon = 0): Promise<string> {
  return await Deno.readTextFile(tb.daemonLog(daemon));
}

function count(text: string, re: RegExp): number {
  return [...text.matchAll(new RegExp(re.source, "g"))].length;
}

/** Runs a child program (argv from writeProgram) with extra environment; its output. */
async function runChild(
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The ssh processes with a control socket in `dir` (only the masters, with `masters`). */
async function sshProcesses(dir: string, masters = true): Promise<string> {
  const pattern = `ssh .*${masters ? "ControlMaster=yes.*" : ""}ControlPath=${dir}`;
  const out = await new Deno.Command("pgrep", { args: ["-af", pattern] }).output();
  return dec.decode(out.stdout).trim();
}

// ---------------------------------------------------------------------------------------
// Item 2: fast key exchange

sshTest("kex 'fast' logs in with curve25519; the default keeps ssh's order", async () => {
  // The daemon offers both; the client's first choice wins (sntrup761 by default in 9.x).
  await using tb = await startTestbed({
    hosts: 1,
    logLevel: "DEBUG1",
    kexAlgorithms: "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
  });
  {
    await using n = nodes(tb, { kex: "fast" });
    assertEquals((await n.run("echo ok").quiet()).text(), ["ok"]);
  }
  assertMatch(await logOf(tb), /kex: algorithm: curve25519-sha256 \[preauth\]/);
  assertEquals(count(await logOf(tb), /kex: algorithm: sntrup761/), 0);
  {
    await using n = nodes(tb);
    assertEquals((await n.run("echo ok").quiet()).text(), ["ok"]);
  }
  assertEquals(count(await logOf(tb), /kex: algorithm: sntrup761/), 1);
});

sshTest("kex 'fast' still reaches a host without curve25519", async () => {
  await using tb = await startTestbed({
    hosts: 1,
    logLevel: "DEBUG1",
    kexAlgorithms: "diffie-hellman-group14-sha256",
  });
  await using n = nodes(tb, { kex: "fast" });
  assertEquals((await n.run("echo ok").quiet()).text(), ["ok"]);
  assertMatch(await logOf(tb), /kex: algorithm: diffie-hellman-group14-sha256/);
});

sshTest("kex is part of a connection's identity: another profile is another master", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using a = nodes(tb);
  await using b = nodes(tb, { kex: "fast" });
  resetConnectionStats();
  await a.run("true").quiet();
  await b.run("true").quiet();
  await a.run("true").quiet();
  assertEquals(connectionStats().setups, 2);
});

sshTest("DEXP_KEX=fast and a host file's defaults select the fast profile", async () => {
  await using tb = await startTestbed({
    hosts: 1,
    logLevel: "DEBUG1",
    kexAlgorithms: "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
  });
  const dir = await Deno.makeTempDir();
  try {
    const argv = await writeProgram(tb, dir, `await n.run("true").quiet();\nawait n.close();`);
    const r = await runChild(argv, { DEXP_KEX: "fast" });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(count(await logOf(tb), /kex: algorithm: curve25519-sha256 \[preauth\]/), 1);
    const bad = await runChild(argv, { DEXP_KEX: "quick" });
    assert(bad.code !== 0);
    assertMatch(bad.stderr, /'DEXP_KEX' must be "fast" or "default": received "quick"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const list = await parseHostList(
    "defaults:\n  kex: fast\n  persist: 10m\nhosts:\n  - n1\n",
    "h.yaml",
  );
  assertEquals(list.defaults, { kex: "fast", persist: "10m" });
  let err = "";
  try {
    await parseHostList("defaults:\n  kex: turbo\nhosts:\n  - n1\n", "h.yaml");
  } catch (e) {
    err = (e as Error).message;
  }
  assertMatch(err, /'kex' must be "fast" or "default" in h.yaml defaults: received "turbo"/);
});

// ---------------------------------------------------------------------------------------
// Item 3: connections that outlive the program

async function persistDirFor(): Promise<string> {
  const d = await Deno.makeTempDir({ dir: "/tmp", prefix: "dexp-pt-" });
  await Deno.chmod(d, 0o700);
  return d;
}

function dexpCli(): string[] {
  const config = new URL("../deno.json", import.meta.url).pathname;
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  return [Deno.execPath(), "run", "-A", `--config=${config}`, main];
}

sshTest(
  "persisted masters are found by a second program, and closed by 'connections close --all'",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    const pdir = await persistDirFor();
    const dir = await Deno.makeTempDir();
    const env = { DEXP_PERSIST_DIR: pdir };
    try {
      const body = (extra: string) =>
        `import { connectionStats } from ${
          JSON.stringify(new URL("../src/ssh/mod.ts", import.meta.url).href)
        };
const m = n.with(${extra});
await m.run("true").quiet();
await m.close();
console.log(JSON.stringify(connectionStats()));`;
      const first = await writeProgram(tb, dir, body(`{ persist: "1m" }`));
      const r1 = await runChild(first, env);
      assertEquals(r1.code, 0, r1.stderr);
      assertEquals(JSON.parse(r1.stdout).setups, 2);
      const logins1 = count(await logOf(tb), /Accepted publickey/);
      // The masters outlived the program.
      assertEquals((await sshProcesses(pdir)).split("\n").length, 2);

      // A second program with the same parameters uses them: no new login.
      const r2 = await runChild(first, env);
      assertEquals(r2.code, 0, r2.stderr);
      assertEquals(JSON.parse(r2.stdout), {
        setups: 0,
        peakSetups: 0,
        open: 0,
        retries: 0,
        reused: 2,
      });
      assertEquals(count(await logOf(tb), /Accepted publickey/), logins1);

      // The same through DEXP_PERSIST.
      const viaEnv = await writeProgram(tb, dir, body(`{}`));
      const r2b = await runChild(viaEnv, { ...env, DEXP_PERSIST: "1m" });
      assertEquals(JSON.parse(r2b.stdout).reused, 2, r2b.stderr);

      // Any other parameter: other connections.
      const other = await writeProgram(tb, dir, body(`{ persist: "1m", connectTimeout: "7s" }`));
      const r3 = await runChild(other, env);
      assertEquals(r3.code, 0, r3.stderr);
      assertEquals(JSON.parse(r3.stdout).setups, 2);
      assertEquals(JSON.parse(r3.stdout).reused, 0);

      // ls shows the four; close --all leaves no ssh process.
      const ls = await runChild([...dexpCli(), "connections", "ls", "--json"], env);
      assertEquals(ls.code, 0, ls.stderr);
      assertEquals(JSON.parse(ls.stdout).length, 4);
      const close = await runChild([...dexpCli(), "connections", "close", "--all"], env);
      assertEquals(close.code, 0, close.stderr);
      assertMatch(close.stdout, /closed 4 persisted connection/);
      assertEquals(await sshProcesses(pdir, false), "");
      const ls2 = await runChild([...dexpCli(), "connections", "ls", "--json"], env);
      assertEquals(JSON.parse(ls2.stdout), []);
    } finally {
      await runChild([...dexpCli(), "connections", "close", "--all"], env);
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(pdir, { recursive: true });
    }
  },
);

sshTest("a dead or foreign persisted socket is replaced, never used", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const pdir = await persistDirFor();
  const dir = await Deno.makeTempDir();
  const env = { DEXP_PERSIST_DIR: pdir };
  try {
    const argv = await writeProgram(
      tb,
      dir,
      `import { connectionStats } from ${
        JSON.stringify(new URL("../src/ssh/mod.ts", import.meta.url).href)
      };
await n.with({ persist: "1m" }).run("echo ok").quiet();
console.log(JSON.stringify(connectionStats()));`,
    );
    const r1 = await runChild(argv, env);
    assertEquals(r1.code, 0, r1.stderr);
    const sockets = [...Deno.readDirSync(pdir)].filter((e) => !e.name.includes("."));
    assertEquals(sockets.length, 1);
    const socket = `${pdir}/${sockets[0].name}`;

    // Dead: the master exited, its socket file stays behind.
    const exit = await new Deno.Command("ssh", {
      args: ["-o", `ControlPath=${socket}`, "-O", "exit", "x"],
      stderr: "null",
    }).output();
    assertEquals(exit.code, 0);
    await Deno.remove(socket);
    await Deno.writeTextFile(socket, "not a socket");
    const r2 = await runChild(argv, env);
    assertEquals(r2.code, 0, r2.stderr);
    assertEquals(JSON.parse(r2.stdout).setups, 1);
    assert(Deno.lstatSync(socket).isSocket);

    // Foreign: a live socket owned by someone else is not trusted.
    Deno.chownSync(socket, 65534, 65534);
    const r3 = await runChild(argv, env);
    assertEquals(r3.code, 0, r3.stderr);
    assertEquals(JSON.parse(r3.stdout).setups, 1);
    assertEquals(JSON.parse(r3.stdout).reused, 0);
    assertEquals(Deno.lstatSync(socket).uid, Deno.uid());

    // A folder others may enter is refused, with a message that says how to fix it.
    await Deno.chmod(pdir, 0o755);
    const r4 = await runChild(argv, env);
    assert(r4.code !== 0);
    assertMatch(r4.stderr, /mode 755 lets other users in: run chmod 700 on it/);
    await Deno.chmod(pdir, 0o700);
  } finally {
    await runChild([...dexpCli(), "connections", "close", "--all"], env);
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(pdir, { recursive: true });
  }
});

sshTest(
  "program end kills remote commands over a persisted master, and keeps the master",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    const pdir = await persistDirFor();
    const dir = await Deno.makeTempDir();
    const env = { DEXP_PERSIST_DIR: pdir };
    const tag = `${Math.floor(Math.random() * 1e6)}`;
    try {
      const argv = await writeProgram(
        tb,
        dir,
        `const p = n.with({ persist: "1m" }).run("echo up; exec sleep 3${tag}").quiet().spawn();
await p.expect("up");
console.log("spawned");
Deno.exit(0);`,
      );
      const r = await runChild(argv, env);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /spawned/);
      // The exit shell kills the remote sleep; the master stays.
      const deadline = Date.now() + 30_000;
      let left = "x";
      while (Date.now() < deadline) {
        const out = await new Deno.Command("pgrep", { args: ["-f", `sleep 3${tag}`] }).output();
        left = dec.decode(out.stdout).trim();
        if (left === "") break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assertEquals(left, "");
      assertEquals((await sshProcesses(pdir)).split("\n").length, 1);
    } finally {
      await runChild([...dexpCli(), "connections", "close", "--all"], env);
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(pdir, { recursive: true });
    }
  },
);

// ---------------------------------------------------------------------------------------
// Item 4: logins dropped under a burst; 1,024 hosts

sshTest("a host that drops logins under a burst (MaxStartups) is retried, not failed", async () => {
  await using tb = await startTestbed({ hosts: 8, daemons: 1, maxStartups: "2:100:2" });
  // Two idle TCP connections hold both unauthenticated slots: every login is dropped until
  // they close, whatever the timing.
  const hold = await Promise.all(
    [0, 1].map(() => Deno.connect({ hostname: tb.hosts[0].address, port: tb.hosts[0].port })),
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && count(await logOf(tb), /Connection from/) < 2) {
    await new Promise((res) => setTimeout(res, 20));
  }
  await using n = nodes(tb, { connectWindow: 8 });
  resetConnectionStats();
  const run = n.run("echo ok").quiet().noThrow().spawn();
  // sshd 9.2 drops them silently; dexp counts each retry.
  while (Date.now() < deadline && connectionStats().retries === 0) {
    await new Promise((res) => setTimeout(res, 20));
  }
  for (const c of hold) c.close();
  const r = await run;
  assertEquals(r.results.map((x) => x.reason), new Array(8).fill(null));
  assertEquals(r.text(), new Array(8).fill("ok"));
  assert(connectionStats().retries >= 1, JSON.stringify(connectionStats()));
  await closeConnections();
});

sshTest({
  name: "a group of 1,024 hosts completes under a soft (and hard) fd limit of 1,024",
  // 1,024 logins: about a minute on 2 busy cores. The testbed's daemons offer curve25519
  // only (the fast profile's key exchange): a third of the default's CPU per login.
  fn: async () => {
    await using tb = await startTestbed({ hosts: 1024 });
    const dir = await Deno.makeTempDir();
    try {
      const argv = await writeProgram(
        tb,
        dir,
        `let peakFds = 0;
const sample = () => {
  let k = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) k++;
  if (k > peakFds) peakFds = k;
};
const sampler = setInterval(sample, 10);
const r = await n.run("echo ok").quiet().noThrow();
clearInterval(sampler);
const limits = Deno.readTextFileSync("/proc/self/limits").match(/^Max open files.*$/m)![0];
const hwm = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\\s+(\\d+)/m)![1];
console.log(JSON.stringify({
  ok: r.results.filter((x) => x.ok).length,
  reasons: [...new Set(r.results.map((x) => x.reason))],
  limits,
  peakRssKb: Number(hwm),
  peakFds,
}));
await n.close();`,
      );
      const r = await runChild(["prlimit", "--nofile=1024:1024", "--", ...argv], {});
      assertEquals(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      console.error(
        `1,024 hosts: peak RSS ${Math.round(out.peakRssKb / 1024)} MB, ${out.peakFds} fds`,
      );
      assertEquals(out.reasons, [null]);
      assertEquals(out.ok, 1024);
      assertMatch(out.limits, /\s1024\s+1024\s/);
      // Many at once (the windows were used), never near the limit (the reserve held). A
      // sample every 10 ms sees less than the true peak, never more.
      assert(out.peakFds >= 32 && out.peakFds < 1024 - 32, `peak of ${out.peakFds} open fds`);
      // The bound on memory (seen here: ~230 MB).
      assert(out.peakRssKb < 300 * 1024, `peak RSS ${out.peakRssKb} kB`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

sshTest(
  "the default window fits in a low fd limit it cannot raise (128 hosts, 256 fds)",
  async () => {
    // 128 commands at once would need 384 pipes: the window is sized from the limit instead.
    await using tb = await startTestbed({ hosts: 128 });
    const dir = await Deno.makeTempDir();
    try {
      const argv = await writeProgram(
        tb,
        dir,
        `const r = await n.run("echo ok; sleep 2").quiet().noThrow();
console.log(JSON.stringify([...new Set(r.results.map((x) => x.reason))]));
await n.close();`,
      );
      const r = await runChild(["prlimit", "--nofile=256:256", "--", ...argv], {});
      assertEquals(r.code, 0, r.stderr);
      assertEquals(JSON.parse(r.stdout), [null]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

sshTest(
  "the soft fd limit is the hard one when a program starts (Deno raises it; windows rely on it)",
  async () => {
    const code = `import { local } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
await local(400).run("true").quiet();
console.log(Deno.readTextFileSync("/proc/self/limits").match(/^Max open files.*$/m)![0]);`;
    const r = await runChild(
      ["prlimit", "--nofile=1024:4096", "--", Deno.execPath(), "eval", code],
      {},
    );
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /Max open files\s+4096\s+4096/);
  },
);
