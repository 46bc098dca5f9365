/**
 * Hardening of the ssh layer (issue 9, and the remote signal of issue 8), against real sshd
 * processes on loopback: the user's ssh config wins, no value in any argv, the whole remote
 * session is ended, a lost connection is its own failure, a killed command reports its signal.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { listProcs, readCmdline, readStat } from "./harness/_proc.ts";
import { type Hosts, hosts, sh, TimeoutError } from "../mod.ts";
import { killScript } from "../src/ssh/remote.ts";

function nodes(tb: Testbed, user: string = USERS.dash): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function token(): string {
  return `tok${crypto.randomUUID().replaceAll("-", "")}`;
}

/** Every process on this machine (the hosts are on loopback) whose argv holds `text`. */
async function argvHolding(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const p of await listProcs()) {
    const line = await readCmdline(p.pid);
    if (line?.includes(text)) found.push(`${p.pid}: ${line.slice(0, 200)}`);
  }
  return found;
}

/** Live (not zombie) processes whose argv contains `text`. */
async function alive(text: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await listProcs()) {
    if (p.pid === Deno.pid || p.state === "Z" || p.state === "X") continue;
    const line = await readCmdline(p.pid);
    if (line?.includes(text)) out.push(`${p.pid} ${p.state}: ${line}`);
  }
  return out;
}

/** Waits (safety net: 20 s) until `count` live `sleep` processes have `text` in their argv. */
async function sleepsUp(text: string, count: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const n = (await alive(text)).filter((l) => /: sleep /.test(l)).length;
    if (n >= count || Date.now() > deadline) return n;
    await sleep(20);
  }
}

/** Waits (safety net: 20 s) until no live process has `text` in its argv; returns the rest. */
async function goneWithin(text: string): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const left = await alive(text);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}

async function sha256(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- 1. The user's config wins ------------------------------------------------------------------

sshTest("a configFile saying StrictHostKeyChecking yes refuses an unknown host key", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const known = `${tb.dir}/user_known_hosts`;
  await Deno.writeTextFile(known, "");
  const config = `${tb.dir}/user_config`;
  await Deno.writeTextFile(
    config,
    [
      "Host *",
      `  User ${USERS.dash}`,
      `  IdentityFile ${tb.keyfile}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${known}`,
      "  GlobalKnownHostsFile /dev/null",
      "  StrictHostKeyChecking yes",
      "",
    ].join("\n"),
  );
  for (const reuse of [true, false]) {
    await using n = hosts({ address: tb.hosts[0].address, port: tb.hosts[0].port }).with({
      configFile: config,
      reuse,
    });
    const r = await n.run("echo ran").quiet().noThrow();
    assertEquals(r.get(0).failure, "connect", `reuse ${reuse}: ${r.get(0).stdout}`);
    assertMatch(r.get(0).reason!, /Host key verification failed/);
    assertEquals(await Deno.readTextFile(known), "", "known_hosts must stay unchanged");
  }
  // The user's own options win over dexp's defaults too: accept-new only when asked for.
  await using asked = hosts({ address: tb.hosts[0].address, port: tb.hosts[0].port }).with({
    configFile: config,
    options: { StrictHostKeyChecking: "accept-new" },
  });
  assertEquals((await asked.run("echo ran").quiet()).text(), ["ran"]);
  assertMatch(
    await Deno.readTextFile(known),
    new RegExp(tb.hosts[0].address.replaceAll(".", "\\.")),
  );
});

// -- 2. No value in any argv --------------------------------------------------------------------

for (const shell of ["dash", "bash"] as const) {
  sshTest(`env values and the command are in no argv, here or on the host (${shell})`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    for (const reuse of [true, false]) {
      await using n = nodes(tb, USERS[shell]).with({ reuse });
      const secret = token();
      const inCommand = token();
      const p = n.at(0).run(`echo "got:$S"; echo ready ${inCommand}; sleep 60`).env({ S: secret })
        .quiet().spawn();
      await p.expect("ready", { timeout: 20_000 });
      const seen = await argvHolding(secret);
      const seenCommand = await argvHolding(inCommand);
      await p.kill();
      assertEquals(seen, [], `reuse ${reuse}: the secret is in an argv`);
      assertEquals(seenCommand, [], `reuse ${reuse}: the command is in an argv`);
      assertEquals((await p.result()).stdout.split("\n")[0], `got:${secret}`);
    }
  });

  sshTest(`a 100 KB value full of quotes and newlines arrives exactly (${shell})`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, USERS[shell]);
    const unit = `'"\\$\`!*\n;|&<>() \r\t#~%{}[]日本 `;
    let big = "";
    while (big.length < 100_000) big += unit + big.length;
    const expected = await sha256(big);
    const viaEnv = await n.at(0).run('printf %s "$BIG" | sha256sum').env({ BIG: big }).text();
    assertEquals(viaEnv.split(" ")[0], expected);
    const viaArgv = await n.at(0).run(["sh", "-c", 'printf %s "$1" | sha256sum', "sh", big]).text();
    assertEquals(viaArgv.split(" ")[0], expected);
    const viaLine = await n.at(0).run(sh`printf %s ${big} | sha256sum`).text();
    assertEquals(viaLine.split(" ")[0], expected);
  });

  sshTest(`stdin text, bytes and a pipe reach the command exactly (${shell})`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, USERS[shell]);
    const h = n.at(0);
    const text = "line 1\n'quoted' \"too\"\n\\ no final newline";
    assertEquals((await h.run("cat").stdin(text).quiet()).stdout, text);
    const bytes = crypto.getRandomValues(new Uint8Array(65_536));
    const r = await h.run("sha256sum").stdin(bytes).text();
    assertEquals(r.split(" ")[0], await sha256(bytes));
    assertEquals((await h.run("cat; echo end").quiet()).stdout, "end\n");
    const piped = h.run('read a; read b; echo "[$a][$b]"; cat').stdin("piped").quiet().spawn();
    await piped.write("first\nsec");
    await piped.write("ond\nrest 'of' it");
    await piped.closeStdin();
    assertEquals((await piped).stdout, "[first][second]\nrest 'of' it");
  });
}

// -- 3. Hosts are validated; the destination is not an option ----------------------------------

sshTest("a host string that looks like an option is refused, not run", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  let error: Error | null = null;
  try {
    await using n = hosts("-V").with({ knownHosts: tb.knownHosts });
    await n.run("true").quiet();
  } catch (e) {
    error = e as Error;
  }
  assert(error instanceof TypeError, `expected a TypeError, got ${error}`);
  assertMatch(error.message, /Host "-V" is not valid: .*cannot start with '-'/);
  for (const name of ["..", "../../x", "a/../b", "a\0b"]) {
    let e: Error | null = null;
    try {
      hosts({ address: tb.hosts[0].address, port: tb.hosts[0].port, name });
    } catch (err) {
      e = err as Error;
    }
    assert(e instanceof TypeError, `name ${JSON.stringify(name)} was accepted`);
    assertMatch(e.message, /cannot be used in \{host\} paths: give the host a 'name'/);
  }
});

// -- 4. A lost connection is its own failure ----------------------------------------------------

/** The sshd session process of the login shell that printed `pid`. */
async function sessionOf(shellPid: number): Promise<number> {
  const st = await readStat(shellPid);
  assert(st !== null, `no process ${shellPid}`);
  assertMatch((await readCmdline(st.ppid)) ?? "", /^sshd: /);
  return st.ppid;
}

sshTest("a frozen host is a lost connection with ssh's reason, not exit 255", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb).with({ options: { ServerAliveInterval: 1, ServerAliveCountMax: 2 } });
  const p = n.at(0).run("echo ready $$; sleep 100").quiet().noThrow().spawn();
  const m = await p.expect(/ready (\d+)/, { timeout: 20_000 });
  const sshd = await sessionOf(Number(m.match![1]));
  Deno.kill(sshd, "SIGSTOP");
  try {
    const r = await p.result();
    assertEquals(r.failure, "connection-lost");
    assertMatch(r.reason!, /Timeout, server .* not responding/);
  } finally {
    Deno.kill(sshd, "SIGCONT");
  }
});

sshTest("an sshd killed mid-command is a lost connection; 'exit 255' stays an exit", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  for (const reuse of [false, true]) {
    await using n = nodes(tb).with({ reuse });
    const p = n.at(0).run("echo ready $$; sleep 100").quiet().noThrow().spawn();
    const m = await p.expect(/ready (\d+)/, { timeout: 20_000 });
    Deno.kill(await sessionOf(Number(m.match![1])), "SIGKILL");
    const r = await p.result();
    assertEquals(r.failure, "connection-lost", `reuse ${reuse}`);
    // A shared connection's master says nothing then (it logs timeouts only): no exit status.
    assertMatch(r.reason!, reuse ? /no exit status came from h1/ : /Connection .*closed/);
    for (const shell of ["dash", "bash"] as const) {
      await using u = nodes(tb, USERS[shell]).with({ reuse });
      const e = await u.at(0).run("echo out; echo err >&2; exit 255").quiet().noThrow();
      assertEquals([e.failure, e.exitCode, e.stdout, e.stderr], ["exit", 255, "out\n", "err\n"]);
      // stderr without a final newline is kept as it was.
      const f = await u.at(0).run("printf abc >&2; exit 3").quiet().noThrow();
      assertEquals([f.failure, f.exitCode, f.stderr], ["exit", 3, "abc"]);
    }
  }
});

// -- 5. The whole session is ended; 6. with the signal -----------------------------------------

for (const shell of ["dash", "bash"] as const) {
  sshTest(`kill() and timeouts end the whole remote session (${shell})`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, USERS[shell]);
    const tag = `${1000 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;
    // Two processes in process groups of their own, still inside the session.
    const command = `timeout 1000 sleep ${tag}1 & bash -c 'set -m; sleep ${tag}2 & wait' & ` +
      `echo ready; wait`;
    const p = n.at(0).run(command).quiet().spawn();
    await p.expect("ready", { timeout: 20_000 });
    assertEquals(await sleepsUp(`sleep ${tag}`, 2), 2);
    await p.kill();
    const r = await p.result();
    assertEquals([r.failure, r.signal, r.exitCode], ["killed", "SIGTERM", null]);
    assertEquals(await goneWithin(`sleep ${tag}`), []);

    const e = await assertRejects(
      () => n.at(0).run(command.replaceAll(tag, `${tag}9`)).quiet().timeout(1000),
      TimeoutError,
    );
    assertEquals([e.result.signal, e.result.exitCode], ["SIGTERM", null]);
    assertEquals(await goneWithin(`sleep ${tag}9`), []);
  });
}

sshTest("the session kill script works without pkill (walks /proc)", async () => {
  const tag = `${2000 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;
  // setsid: a new session whose id is the shell's pid (a spawned child leads no group).
  const child = new Deno.Command("setsid", {
    args: [
      "sh",
      "-c",
      `timeout 1000 sleep ${tag}1 & bash -c 'set -m; sleep ${tag}2 & wait' & wait`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  assertEquals(await sleepsUp(`sleep ${tag}`, 2), 2);
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", killScript(child.pid, "SIGTERM")],
    env: { PATH: "/nonexistent" },
    clearEnv: true,
  }).output();
  assertEquals(out.code, 0);
  await child.status;
  assertEquals(await goneWithin(`sleep ${tag}`), []);
});
