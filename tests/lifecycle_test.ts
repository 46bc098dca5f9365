/**
 * The end of a program and the setup of its connections, against real sshd processes on
 * loopback: nothing a program started outlives it on the hosts (normal end, uncaught error,
 * disposal, signals at any moment, a second interrupt of `dexp run`), every path to a host
 * has a deadline, and each group's connection settings apply to that group.
 */
import { detachedMasters } from "./harness/masters.ts";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { writeProgram } from "./harness/program.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { type Hosts, hosts } from "../mod.ts";
import { connectionStats, resetConnectionStats } from "../src/ssh/mod.ts";

const dec = new TextDecoder();

function nodes(tb: Testbed): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

/** A `sleep` argument no other test (or helper) uses, so pgrep finds only ours. */
function uniqueSleep(): string {
  return `sleep 500.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
}

/** Pids of live processes (not zombies) whose whole command line is `line`. */
async function pidsOf(line: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-x", "-f", line] }).output();
  const pids = dec.decode(out.stdout).split("\n").filter((l) => l !== "").map(Number);
  const alive: number[] = [];
  for (const pid of pids) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (!/^\S+ \(.*\) [ZX] /.test(stat)) alive.push(pid);
    } catch {
      // Gone.
    }
  }
  return alive;
}

/** Command lines of the local ssh processes started for this testbed (masters, setups). */
async function sshOf(tb: Testbed, pattern = ""): Promise<string[]> {
  const out = await new Deno.Command("pgrep", {
    args: ["-a", "-f", `UserKnownHostsFile=${tb.knownHosts}.*${pattern}`],
  }).output();
  const lines = dec.decode(out.stdout).split("\n").filter((l) => l !== "");
  // Every ssh of the testbed: also the masters that went to the background under a new name.
  return pattern === "" ? [...lines, ...await detachedMasters(tb)] : lines;
}

/** The ssh masters of the testbed: being set up, or in the background. */
async function mastersOf(tb: Testbed): Promise<string[]> {
  return [...await sshOf(tb, "ControlMaster=yes"), ...await detachedMasters(tb)];
}

/** The control folders named in ssh command lines. */
function controlDirs(lines: string[]): string[] {
  const dirs = new Set<string>();
  for (const l of lines) {
    const m = l.match(/(?:ControlPath=|ssh: )(\/\S+)\/\d+/);
    if (m) dirs.add(m[1]);
  }
  return [...dirs];
}

/** SIGKILLs a child that may have ended already. */
function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Ended.
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `cond` holds; the deadline is a safety net, never the thing tested. */
async function waitFor(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a stream until `text` appears; returns what was read. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  text: string,
  sofar = { text: "" },
): Promise<string> {
  while (!sofar.text.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Stream ended before '${text}': ${sofar.text}`);
    sofar.text += value;
  }
  return sofar.text;
}

/** A loopback TCP server that sends an SSH banner to each client and then says nothing. */
function stallingServer(mode: { close: boolean } = { close: false }) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) {
      if (mode.close) {
        c.close();
        continue;
      }
      held.push(c);
      c.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2p1 stall\r\n")).catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    mode,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
      for (const c of held) {
        try {
          c.close();
        } catch {
          // Closed by the client.
        }
      }
    },
  };
}

type Ending = "await using, normal end" | "Deno.exit" | "uncaught error" | "await using, error";

const ENDINGS: Record<Ending, { wrap: boolean; end: string }> = {
  "await using, normal end": { wrap: true, end: "" },
  "Deno.exit": { wrap: false, end: "Deno.exit(0);" },
  "uncaught error": { wrap: false, end: `throw new Error("boom");` },
  "await using, error": { wrap: true, end: `throw new Error("boom");` },
};

for (const [ending, { wrap, end }] of Object.entries(ENDINGS)) {
  sshTest(`a spawned remote command ends with its program (${ending})`, async () => {
    await using tb = await startTestbed({ hosts: 2 });
    const dir = await Deno.makeTempDir();
    const sleep = uniqueSleep();
    const local = uniqueSleep();
    try {
      // A local command would keep a program that ends normally alive (as it should).
      const withLocal = end !== "";
      const body = `const g = n;
const remote = g.run(${JSON.stringify(`echo up; ${sleep}`)}).quiet().spawn();
await remote.expect("up");
${
        withLocal
          ? `await cmd(${JSON.stringify(`echo up; ${local}`)}).quiet().spawn().expect("up");`
          : ""
      }
console.log("ready");
for await (const _ of Deno.stdin.readable) break;
${end}
`;
      const [program, ...args] = await writeProgram(
        tb,
        dir,
        wrap ? `{\nawait using _g = n;\n${body}}\n` : body,
      );
      const child = new Deno.Command(program, {
        args,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const guard = setTimeout(() => kill(child), 120_000);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      await readUntil(reader, "ready");
      await waitFor(async () => (await pidsOf(sleep)).length === 2, `sleep running`);
      await waitFor(
        async () => (await pidsOf(local)).length === (withLocal ? 1 : 0),
        `local running`,
      );
      const folders = controlDirs(await mastersOf(tb));
      assertEquals(folders.length, 1);
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      await w.close();
      const status = await child.status;
      clearTimeout(guard);
      await reader.cancel();
      const err = dec.decode(await new Response(child.stderr).arrayBuffer());
      assertEquals(status.code, end.includes("throw") ? 1 : 0, err);
      // Checked from outside: no process of either command, no master, no control folder.
      await waitFor(async () => (await pidsOf(sleep)).length === 0, `no '${sleep}' left`);
      await waitFor(async () => (await pidsOf(local)).length === 0, `no '${local}' left`);
      await waitFor(async () => (await sshOf(tb)).length === 0, "no ssh left");
      await waitFor(async () => !(await exists(folders[0])), `${folders[0]} removed`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  sshTest(`${signal} while connections are set up leaves no master and no folder`, async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using stall = stallingServer();
    const dir = await Deno.makeTempDir();
    try {
      const [program, ...args] = await writeProgram(
        tb,
        dir,
        `await n.run("true").quiet();
console.log("up");
const slow = hosts("127.0.0.1:${stall.port}").with({
  user: "${USERS.dash}",
  knownHosts: "${tb.knownHosts}",
  connectTimeout: "30s",
});
await slow.run("true").quiet().noThrow();
console.log("never");
`,
      );
      const child = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).spawn();
      const guard = setTimeout(() => kill(child), 120_000);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      await readUntil(reader, "up");
      // The setup to the stalling host is under way (its ssh runs, and stalls).
      await waitFor(
        async () => (await sshOf(tb, `-p ${stall.port} .*ControlMaster=yes`)).length === 1,
        "the setup to start",
      );
      const lines = await mastersOf(tb);
      assertEquals(lines.length, 3, lines.join("\n"));
      const folders = controlDirs(lines);
      assertEquals(folders.length, 1);
      child.kill(signal);
      const status = await child.status;
      clearTimeout(guard);
      await reader.cancel();
      const err = dec.decode(await new Response(child.stderr).arrayBuffer());
      assertEquals(status.code, code, err);
      await waitFor(async () => (await sshOf(tb)).length === 0, "no ssh left");
      await waitFor(async () => !(await exists(folders[0])), `${folders[0]} removed`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const [signal, code] of [["SIGINT", 130], ["SIGHUP", 129]] as const) {
  sshTest(`${signal} while commands run stops them here and on the hosts`, async () => {
    await using tb = await startTestbed({ hosts: 2 });
    const dir = await Deno.makeTempDir();
    const remote = uniqueSleep();
    const local = uniqueSleep();
    try {
      const [program, ...args] = await writeProgram(
        tb,
        dir,
        `const r = n.run(${JSON.stringify(`echo up; ${remote}`)}).quiet().spawn();
const l = cmd(${JSON.stringify(`echo up; ${local}`)}).quiet().spawn();
await r.expect("up");
await l.expect("up");
console.log("ready");
await r;
`,
      );
      const child = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).spawn();
      const guard = setTimeout(() => kill(child), 120_000);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      await readUntil(reader, "ready");
      await waitFor(async () => (await pidsOf(remote)).length === 2, `remote running`);
      const folders = controlDirs(await mastersOf(tb));
      child.kill(signal);
      const status = await child.status;
      clearTimeout(guard);
      await reader.cancel();
      const err = dec.decode(await new Response(child.stderr).arrayBuffer());
      assertEquals(status.code, code, err);
      await waitFor(async () => (await pidsOf(remote)).length === 0, `no '${remote}' left`);
      await waitFor(async () => (await pidsOf(local)).length === 0, `no '${local}' left`);
      await waitFor(async () => (await sshOf(tb)).length === 0, "no ssh left");
      await waitFor(async () => !(await exists(folders[0])), `${folders[0]} removed`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

sshTest("a second SIGINT to a program kills everything at once, here and remotely", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  const dir = await Deno.makeTempDir();
  const remote = uniqueSleep();
  const local = uniqueSleep();
  try {
    // Both ignore SIGTERM and have a long grace period: the first SIGINT alone would wait.
    const [program, ...args] = await writeProgram(
      tb,
      dir,
      `const r = n.run(${
        JSON.stringify(`trap '' TERM; echo up; ${remote}`)
      }).killGrace(600_000).quiet().spawn();
const l = cmd(${
        JSON.stringify(`trap '' TERM; echo up; ${local}`)
      }).killGrace(600_000).quiet().spawn();
await r.expect("up");
await l.expect("up");
console.log("ready");
await r;
`,
    );
    const child = new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).spawn();
    const guard = setTimeout(() => kill(child), 120_000);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await readUntil(reader, "ready");
    await waitFor(async () => (await pidsOf(remote)).length === 2, "remote running");
    await waitFor(async () => (await pidsOf(local)).length === 1, "local running");
    const errReader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    child.kill("SIGINT");
    const err = await readUntil(errReader, "SIGINT: stopping");
    child.kill("SIGINT");
    const status = await child.status;
    clearTimeout(guard);
    await reader.cancel();
    await errReader.cancel();
    assertEquals(status.code, 130, err);
    await waitFor(async () => (await pidsOf(remote)).length === 0, `no '${remote}' left`);
    await waitFor(async () => (await pidsOf(local)).length === 0, `no '${local}' left`);
    await waitFor(async () => (await sshOf(tb)).length === 0, "no ssh left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

sshTest(
  "a second Ctrl-C of dexp run kills everything and records the run interrupted",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    const dir = await Deno.makeTempDir();
    const remote = uniqueSleep();
    const local = uniqueSleep();
    try {
      const spec = tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
      const params = { user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts };
      const mod = new URL("../mod.ts", import.meta.url).href;
      // Both commands ignore SIGTERM and have a long grace period: the first Ctrl-C alone
      // would wait for them for ten minutes.
      await Deno.writeTextFile(
        `${dir}/twice.ts`,
        `import { cmd, experiment, hosts } from ${JSON.stringify(mod)};
const n = hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
experiment("twice", { hosts: n }, async (ctx) => {
  const r = ctx.spawn(n.run(${
          JSON.stringify(`trap '' TERM; echo up; ${remote}`)
        }).killGrace(600_000).quiet());
  const l = ctx.spawn(cmd(${
          JSON.stringify(`trap '' TERM; echo up; ${local}`)
        }).killGrace(600_000).quiet());
  await r.expect("up");
  await l.expect("up");
  await Deno.writeTextFile(${JSON.stringify(`${dir}/ready`)}, "");
  await Promise.all([r, l]);
});
`,
      );
      const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
      const config = new URL("../deno.json", import.meta.url).pathname;
      const results = join(dir, "results");
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `--config=${config}`,
          main,
          "run",
          "--no-progress",
          "-r",
          results,
          `${dir}/twice.ts`,
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const guard = setTimeout(() => kill(child), 120_000);
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      const seen = { text: "" };
      const drain = (async () => {
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            seen.text += value;
          }
        } catch {
          // Cancelled.
        }
      })();
      await waitFor(() => exists(`${dir}/ready`), "the commands to run");
      await waitFor(async () => (await pidsOf(remote)).length === 2, `remote running`);
      await waitFor(async () => (await pidsOf(local)).length === 1, `local running`);
      child.kill("SIGINT");
      await waitFor(
        () => Promise.resolve(seen.text.includes("stopping running combinations")),
        "stopping",
      );
      child.kill("SIGINT");
      const status = await child.status;
      clearTimeout(guard);
      await drain;
      const out = dec.decode(await new Response(child.stdout).arrayBuffer());
      assertEquals(status.code, 130, seen.text + out);
      const [runId] = [...Deno.readDirSync(join(results, "twice"))].filter((e) => e.isDirectory)
        .map((e) => e.name);
      const run = JSON.parse(await Deno.readTextFile(join(results, "twice", runId, "run.json")));
      assertEquals(run.state, "interrupted");
      await waitFor(async () => (await pidsOf(remote)).length === 0, `no '${remote}' left`);
      await waitFor(async () => (await pidsOf(local)).length === 0, `no '${local}' left`);
      await waitFor(async () => (await sshOf(tb)).length === 0, "no ssh left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** Runs `true` on the group, stopping it after a safety deadline (so a hang fails). */
async function runWithSafetyNet(g: Hosts) {
  const p = g.run("true").quiet().noThrow().spawn();
  const net = setTimeout(() => p.kill("SIGKILL"), 90_000);
  try {
    return (await p.result()).get(0);
  } finally {
    clearTimeout(net);
  }
}

sshTest("without reuse, a host that stalls after its banner is a connect failure", async () => {
  await using stall = stallingServer();
  await using n = hosts(`127.0.0.1:${stall.port}`).with({ reuse: false, connectTimeout: "1s" });
  const r = await runWithSafetyNet(n);
  assertEquals(r.failure, "connect", r.reason ?? "");
  assertMatch(r.reason!, /did not finish logging in/);
});

sshTest("a later group's connectTimeout applies to its own setup", async () => {
  const mode = { close: true };
  await using stall = stallingServer(mode);
  // The first group's setup fails at once (the server closes the connection)...
  const first = hosts(`127.0.0.1:${stall.port}`).with({ connectTimeout: "30s" });
  const r1 = await runWithSafetyNet(first);
  assertEquals(r1.failure, "connect");
  // ... then the host stalls: the later group's 1 s timeout is the one that counts.
  mode.close = false;
  await using later = first.with({ connectTimeout: "1s" });
  const r2 = await runWithSafetyNet(later);
  assertEquals(r2.failure, "connect", r2.reason ?? "");
  assertMatch(r2.reason!, /within 8 s/);
});

sshTest("a later group's connectWindow and controlPersist apply to its setups", async () => {
  await using tb = await startTestbed({ hosts: 6, daemons: 1 });
  await using first = nodes(tb);
  // The first group uses the hosts (its setups fail: the daemon is down).
  await tb.stopDaemon(0);
  const r1 = await first.run("true").quiet().noThrow();
  assertEquals(r1.results.map((x) => x.failure), Array(6).fill("connect"));
  await tb.startDaemon(0);
  await using later = first.with({ connectWindow: 1, controlPersist: "77s" });
  resetConnectionStats();
  // The first command's ssh sets up the master: seen while it runs (a master in the
  // background has another name).
  const g = later.run("echo up; sleep 60").quiet().spawn();
  await g.expect("up", { timeout: 60_000 });
  const setups = await sshOf(tb, "ControlMaster=yes");
  assertEquals(setups.length, 6);
  for (const m of setups) assert(m.includes("ControlPersist=77"), m);
  await g.kill();
  const r2 = await g.result();
  assertEquals(r2.results.map((x) => x.failure), Array(6).fill("killed"));
  const s = connectionStats();
  assertEquals(s.setups, 6);
  assertEquals(s.peakSetups, 1);
  assertEquals((await mastersOf(tb)).length, 6);
});

sshTest(
  "a remote command whose first line was seen can always be killed from then on",
  async () => {
    // The remote shell prints its marker (the session id that a kill needs) on stderr before
    // the command writes anything; stdout and stderr are read concurrently, so without an order
    // a program could see "up" on stdout (and exit, or kill) while the session id is unknown.
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb);
    for (let i = 0; i < 20; i++) {
      const p = n.run(`echo up; ${uniqueSleep()}`).quiet().spawn();
      await p.expect("up");
      const member = p.members[0]!;
      assert(member.remoteKillArgv("SIGTERM") !== null, `round ${i}: the session id is unknown`);
      await p.kill();
    }
  },
);
