/**
 * Detached jobs against real sshd hosts (tests/harness/sshd.ts), under both test users; every
 * claim is checked from outside, on the host, with ps and /proc.
 */
import { assert, assertEquals, assertMatch, assertRejects, waitFor } from "./assert.ts";
import { homeOf, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { isGone, readCmdline, readStat, sessionProcs } from "./harness/_proc.ts";
import {
  attachJobs,
  detach,
  GroupError,
  type Hosts,
  hosts,
  type Job,
  type JobStatus,
  listJobs,
  local,
  sh,
} from "../mod.ts";

function nodes(tb: Testbed, user: string): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

/** A fresh jobs root under the user's home, and its absolute path on this machine. */
async function jobsRoot(user: string): Promise<{ root: string; abs: string }> {
  const name = `.dexp-test-jobs-${crypto.randomUUID().slice(0, 8)}`;
  return { root: `~/${name}`, abs: `${await homeOf(user)}/${name}` };
}

/** A scratch folder the test users can read (root writes it). */
async function scratch(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "dexp-jobs-test-" });
  await Deno.chmod(d, 0o755);
  return d;
}

/** The recorded `SID SIDSTART SUPPID SUPSTART` of a job, read on the host. */
async function pidFile(abs: string, job: Job): Promise<number[]> {
  return (await Deno.readTextFile(`${abs}/${job.id}/pid`)).trim().split(" ").map(Number);
}

async function cleanup(abs: string): Promise<void> {
  await Deno.remove(abs, { recursive: true }).catch(() => {});
}

/** Writes a child program that imports dexp, with `n` the testbed's hosts; returns its argv. */
async function program(tb: Testbed, dir: string, user: string, body: string): Promise<string[]> {
  const script = `${dir}/program.ts`;
  const spec = tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
  const params = {
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
  await Deno.writeTextFile(
    script,
    `import * as dexp from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
const n = dexp.hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
void n;
${body}`,
  );
  const config = new URL("../deno.json", import.meta.url).pathname;
  return [Deno.execPath(), "run", "-A", `--config=${config}`, script];
}

for (const shell of ["dash", "bash"] as const) {
  const user = USERS[shell];

  sshTest(
    `[${shell}] a job survives SIGKILL of its controller; another process gets all`,
    async () => {
      await using tb = await startTestbed({ hosts: 2 });
      // The same connection parameters as the attached jobs: closes their shared connections.
      await using _n = nodes(tb, user);
      const { root, abs } = await jobsRoot(user);
      const dir = await scratch();
      try {
        const gate = `${dir}/gate`;
        // Prints, waits for the gate (so it surely outlives the controller), prints, exits 7.
        const argv = await program(
          tb,
          dir,
          user,
          `const g = await dexp.detach(n.run((h) => dexp.sh\`echo begin \${h.name}; echo to-err >&2; while [ ! -e \${${
            JSON.stringify(gate)
          }} ]; do sleep 0.05; done; echo end \${h.name}; exit 7\`), { root: ${
            JSON.stringify(root)
          } });
await Deno.writeTextFile(${JSON.stringify(`${dir}/refs.json`)}, JSON.stringify(g.refs));
console.log("READY");
setInterval(() => {}, 1000); // stays alive until the test kills it
await new Promise(() => {});`,
        );
        const child = new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        while (!seen.includes("READY")) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += value;
        }
        assertMatch(seen, /READY/);
        child.kill("SIGKILL");
        await child.status;
        reader.releaseLock();
        await child.stdout.cancel().catch(() => {});

        const group = attachJobs(await Deno.readTextFile(`${dir}/refs.json`));
        assertEquals(group.length, 2);
        // From outside: each job's process still runs, with the recorded start time.
        for (const job of group) {
          const [, , sup, supStart] = await pidFile(abs, job);
          assert(!(await isGone(sup, supStart)), `job ${job.id} must still run after the SIGKILL`);
        }
        assertEquals((await group.status()).map((s) => s.state), ["running", "running"]);

        // The job ends while no controller runs; its code is there later.
        await Deno.writeTextFile(gate, "");
        for (const job of group) {
          const [, , sup, supStart] = await pidFile(abs, job);
          await waitFor("the job to end", async () => (await isGone(sup, supStart)) || undefined);
          await waitFor("the exit file", async () => {
            try {
              return await Deno.stat(`${abs}/${job.id}/exit`);
            } catch {
              return undefined;
            }
          });
        }
        const fresh = attachJobs(await Deno.readTextFile(`${dir}/refs.json`));
        const st = await fresh.status();
        assertEquals(st.map((s) => s.state === "exited" && s.code), [7, 7]);
        const r = await fresh.result({ interval: 100 });
        assertEquals(r.results.map((x) => x.stdout), ["begin h1\nend h1\n", "begin h2\nend h2\n"]);
        assertEquals(r.results.map((x) => x.stderr), ["to-err\n", "to-err\n"]);
        assertEquals(r.results.map((x) => x.exitCode), [7, 7]);
        assertEquals(r.results.map((x) => x.failure), ["exit", "exit"]);
        assertEquals(r.results.map((x) => x.target), ["h1", "h2"]);
        await assertRejects(() => fresh.wait({ interval: 100 }), GroupError, "exited with code 7");
        await fresh.forget();
        for (const job of fresh) {
          await assertRejects(() => Deno.lstat(`${abs}/${job.id}`), Deno.errors.NotFound);
        }
      } finally {
        await cleanup(abs);
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  sshTest(`[${shell}] kill ends the whole remote tree, children ignoring TERM too`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    try {
      const g = await detach(
        n.run(`sh -c 'trap "" TERM; sleep 1000' & sleep 1000 & (sleep 1000) & echo ready; wait`),
        { root },
      );
      const job = g.jobs[0];
      await waitFor("ready", async () => {
        const o = await job.output();
        return new TextDecoder().decode(o.data).includes("ready") || undefined;
      });
      const [sid] = await pidFile(abs, job);
      const before = await waitFor("the children", async () => {
        const p = await sessionProcs(sid);
        return p.length >= 4 ? p : undefined;
      });
      assert(before.length >= 4, `expected the shell and its children: ${before}`);
      const st = await job.kill("SIGTERM", { grace: 300 });
      assertEquals(st.state, "killed");
      assertEquals(await sessionProcs(sid), [], "nothing of the job may run after kill()");
      const r = await job.result();
      assertEquals([r.failure, r.killed], ["killed", true]);
      await job.forget();
      await assertRejects(() => Deno.lstat(`${abs}/${job.id}`), Deno.errors.NotFound);
    } finally {
      await cleanup(abs);
    }
  });

  sshTest(`[${shell}] a job killed behind dexp's back is lost, not running`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    try {
      const g = await detach(n.run("sleep 1000"), { root });
      const job = g.jobs[0];
      assertEquals((await job.status()).state, "running");
      const [sid, , sup] = await pidFile(abs, job);
      await waitFor("the processes to go", async () => {
        const left = await sessionProcs(sid);
        for (const p of left) Deno.kill(p, "SIGKILL");
        return left.length === 0 || undefined;
      });
      assert(await isGone(sup));
      const st = await job.status();
      assertEquals(st.state === "lost" && st.reason, "supervisor gone");
      const r = await job.result();
      assertEquals(r.failure, "lost");
      await job.forget();
      await assertRejects(() => Deno.lstat(`${abs}/${job.id}`), Deno.errors.NotFound);
    } finally {
      await cleanup(abs);
    }
  });

  sshTest(`[${shell}] a host whose boot id changed is lost (host rebooted)`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    const dir = await scratch();
    try {
      const bootIdFile = `${dir}/boot_id`;
      await Deno.writeTextFile(bootIdFile, "11111111-1111-1111-1111-111111111111\n");
      await Deno.chmod(bootIdFile, 0o644);
      const g = await detach(n.run("sleep 1000"), { root, bootIdFile });
      const job = g.jobs[0];
      assertEquals((await job.status()).state, "running");
      // The "reboot": the processes are gone and the boot id is new.
      const [sid] = await pidFile(abs, job);
      await tb.stopDaemon(0);
      await tb.startDaemon(0);
      await waitFor(
        "the processes to go",
        async () => (await sessionProcs(sid)).length === 0 || undefined,
      );
      await Deno.writeTextFile(bootIdFile, "22222222-2222-2222-2222-222222222222\n");
      const st = await job.status();
      assertEquals(st.state === "lost" && st.reason, "host rebooted");
      await job.forget();
    } finally {
      await cleanup(abs);
      await Deno.remove(dir, { recursive: true });
    }
  });

  sshTest(`[${shell}] a pid that now belongs to another process is not the job`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    try {
      // A heartbeat that sleeps all along: the session's processes stay the same.
      const g = await detach(n.run("sleep 1000"), { root, heartbeat: 3600 });
      const job = g.jobs[0];
      const file = `${abs}/${job.id}/pid`;
      const original = await Deno.readTextFile(file);
      const [pid, start, sup, supStart] = original.trim().split(" ").map(Number);
      assertEquals((await readStat(sup))?.starttime, supStart);
      // The supervisor reports the start before its subshells have started the command and
      // the heartbeat's sleep: once both run, the session's processes stay the same.
      const procs = await waitFor("the command and the heartbeat's sleep", async () => {
        const ps = await sessionProcs(pid);
        const argv = await Promise.all(ps.map(readCmdline));
        return argv.includes("sleep 1000") && argv.includes("sleep 3600") ? ps : undefined;
      });
      assert(procs.length >= 2 && procs.includes(sup), `session ${pid}: ${procs}`);
      // As if the job had ended and the supervisor's pid been given to a new process.
      await Deno.writeTextFile(file, `${pid} ${start} ${sup} ${supStart + 1}\n`);
      const st = await job.status();
      assertEquals(st.state, "lost");
      // kill() must not touch a process whose start time is not the job's.
      await job.kill("SIGKILL", { grace: 0, settle: 0 });
      assertEquals(
        await sessionProcs(pid),
        procs,
        "kill() signalled processes that are not the job",
      );
      await Deno.writeTextFile(file, original);
      assertEquals((await job.status()).state, "running");
      await job.kill("SIGTERM", { grace: 200 });
      assert(await isGone(sup, supStart));
      assertEquals(await sessionProcs(pid), []);
      await job.forget();
    } finally {
      await cleanup(abs);
    }
  });

  sshTest(
    `[${shell}] job files are private, values arrive literally, listJobs finds them`,
    async () => {
      await using tb = await startTestbed({ hosts: 2 });
      await using n = nodes(tb, user);
      const { root, abs } = await jobsRoot(user);
      try {
        const tricky = ["'; echo INJECTED #", "$(id)", "`id`", "a\nb", "*", "日本語", "", "\\"];
        const g = await detach(n.run(sh`printf '<%s>\n' ${tricky}`).env({ X: "$(id) 'q'" }), {
          root,
          name: "lit",
        });
        const other = await detach(n.run('printf "%s" "$X"').env({ X: "$(id) 'q'" }), {
          root,
          name: "env",
        });
        const r = await g.wait({ interval: 100 });
        const expected = tricky.map((a) => `<${a}>\n`).join("");
        assertEquals(r.results.map((x) => x.stdout), [expected, expected]);
        const e = await other.wait({ interval: 100 });
        assertEquals(e.results.map((x) => x.stdout), ["$(id) 'q'", "$(id) 'q'"]);
        const rootMode = (await Deno.stat(abs)).mode! & 0o777;
        assertEquals(rootMode.toString(8), "700");
        const job = g.jobs[0];
        for await (const entry of Deno.readDir(`${abs}/${job.id}`)) {
          const mode = (await Deno.stat(`${abs}/${job.id}/${entry.name}`)).mode! & 0o777;
          assertEquals(`${entry.name} ${mode.toString(8)}`, `${entry.name} 600`);
        }
        assertEquals(((await Deno.stat(`${abs}/${job.id}`)).mode! & 0o777).toString(8), "700");
        // Every test host is this machine: list on one of them to see each job once.
        const one = n.slice(0, 1);
        const listed = await listJobs(one, { root, name: "lit" });
        assertEquals(listed.map((l) => l.job.id).sort(), g.jobs.map((j) => j.id).sort());
        assert(listed.every((l) => l.status.state === "exited"));
        assertEquals((await listJobs(one, { root })).length, 4);
        await g.forget();
        await other.forget();
        assertEquals((await listJobs(one, { root })).length, 0);
        assertEquals([...Deno.readDirSync(abs)].map((x) => x.name), []);
      } finally {
        await cleanup(abs);
      }
    },
  );
}

sshTest("100 MB of output is followed with bounded memory", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const user = USERS.dash;
  const { root } = await jobsRoot(user);
  const { abs } = { abs: `${await homeOf(user)}/${root.slice(2)}` };
  const dir = await scratch();
  try {
    const total = 100 * 1000 * 1000;
    const chunk = 1024 * 1024;
    // The follow reports after each read what it holds (onRead): the count is of the follow's
    // own buffers, not of the process's memory, so a late garbage collection cannot move it.
    const argv = await program(
      tb,
      dir,
      user,
      `const g = await dexp.detach(n.run("yes abcdefghi | head -c ${total}"), { root: ${
        JSON.stringify(root)
      } });
let bytes = 0;
let bad = 0;
let reads = 0;
let maxHeld = 0;
let maxChunk = 0;
for await (const c of g.jobs[0].follow({ interval: 100, chunk: ${chunk}, onRead: (r) => {
  reads++;
  maxHeld = Math.max(maxHeld, r.held);
} })) {
  for (let i = 0; i < c.length; i += 4096) if (c[i] !== "abcdefghi\\n".charCodeAt((bytes + i) % 10)) bad++;
  bytes += c.length;
  maxChunk = Math.max(maxChunk, c.length);
}
const st = await g.jobs[0].status();
console.log(JSON.stringify({ bytes, bad, reads, maxHeld, maxChunk, state: st.state }));
await g.forget();
await n.close();`,
    );
    const o = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
    assertEquals(o.code, 0);
    const res = JSON.parse(new TextDecoder().decode(o.stdout).trim().split("\n").at(-1)!);
    assertEquals([res.bytes, res.bad, res.state], [total, 0, "exited"]);
    // One chunk at a time: its bytes, and the base64 answer they came in (4/3 of them).
    assert(
      res.maxHeld <= chunk * (1 + 4 / 3) + 64 * 1024,
      `the follow held ${res.maxHeld} bytes at once: more than one chunk of ${chunk}`,
    );
    assert(res.maxChunk <= chunk, `a chunk of ${res.maxChunk} bytes is over the ${chunk} asked`);
    assert(res.reads >= total / chunk, `${res.reads} reads for ${total} bytes`);
  } finally {
    await cleanup(abs);
    await Deno.remove(dir, { recursive: true });
  }
});

sshTest("status of many jobs costs one round trip per host", async () => {
  await using tb = await startTestbed({ hosts: 2 });
  await using n = nodes(tb, USERS.dash);
  const { root, abs } = await jobsRoot(USERS.dash);
  try {
    const groups = [];
    for (let k = 0; k < 3; k++) groups.push(await detach(n.run("sleep 1000"), { root }));
    const all = attachJobs(groups.flatMap((g) => g.refs));
    assertEquals(all.length, 6);
    const logs = tb.daemons.map((d) => d.logFile);
    const count = async () => {
      let c = 0;
      for (const f of logs) {
        // One "Starting session" line per ssh session (VERBOSE log level).
        c += (await Deno.readTextFile(f)).split("\n").filter((l) =>
          /session opened|Starting session/.test(l)
        ).length;
      }
      return c;
    };
    const before = await count();
    const st: JobStatus[] = await all.status();
    assertEquals(st.map((s) => s.state), Array(6).fill("running"));
    const after = await waitFor("the log", async () => {
      const c = await count();
      return c >= before + 2 ? c : undefined;
    });
    assertEquals(after - before, 2);
    await all.forget();
  } finally {
    await cleanup(abs);
  }
});

/** Runs `dexp ARGS` (the CLI entry) and returns its exit code and output. */
async function dexp(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${config}`, main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

sshTest("dexp jobs ls, log -f, kill and forget", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using n = nodes(tb, USERS.bash);
  const { root, abs } = await jobsRoot(USERS.bash);
  const dir = await scratch();
  try {
    const hostFile = `${dir}/hosts.yaml`;
    const h = tb.hosts[0];
    await Deno.writeTextFile(
      hostFile,
      JSON.stringify({
        defaults: { user: USERS.bash, keyfile: tb.keyfile, knownHosts: tb.knownHosts },
        hosts: [{ address: h.address, port: h.port, name: h.name }],
      }),
    );
    const gate = `${dir}/gate`;
    const done = await detach(
      n.run(sh`seq 1 5; while [ ! -e ${gate} ]; do sleep 0.05; done; seq 6 9`),
      {
        root,
        name: "counted",
      },
    );
    const slow = await detach(n.run("sleep 1000"), { root, name: "slow" });

    const ls = await dexp(["jobs", "ls", hostFile, "--root", root, "--json"]);
    assertEquals(ls.code, 0, ls.err);
    const listed = JSON.parse(ls.out) as { ref: unknown; name: string; status: JobStatus }[];
    assertEquals(listed.map((l) => l.name).sort(), ["counted", "slow"]);
    assert(listed.every((l) => l.status.state === "running"));

    // Follow by id; the job finishes while the follower runs.
    const id = done.jobs[0].id;
    const follower = dexp(["jobs", "log", id, "-f", "--hosts", hostFile, "--root", root]);
    await waitFor("the first lines", async () => {
      const o = await done.jobs[0].output();
      return o.size >= 10 || undefined;
    });
    await Deno.writeTextFile(gate, "");
    const log = await follower;
    assertEquals(log.code, 0, log.err);
    assertEquals(log.out, "1\n2\n3\n4\n5\n6\n7\n8\n9\n");

    const ref = JSON.stringify(slow.refs[0]);
    const [sid] = await pidFile(abs, slow.jobs[0]);
    const kill = await dexp(["jobs", "kill", ref, "--grace", "200", "--json"]);
    assertEquals(kill.code, 0, kill.err);
    assertEquals(JSON.parse(kill.out)[0].status.state, "killed");
    assertEquals(await sessionProcs(sid), []);

    const bad = await dexp(["jobs", "log", "../etc", "--hosts", hostFile]);
    assertEquals(bad.code, 2);
    const forget = await dexp(["jobs", "forget", ref, id, "--hosts", hostFile, "--root", root]);
    assertEquals(forget.code, 0, forget.err);
    assertEquals([...Deno.readDirSync(abs)].map((x) => x.name), []);
  } finally {
    await cleanup(abs);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "local(n) jobs: detach, attach from refs, result as for attached commands",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "dexp-local-jobs-" });
    try {
      const g = await detach(
        local(2).run((_, i) => `echo out ${i}; echo err ${i} >&2; exit ${i}`).env({ V: "x y" }),
        { root, name: "loc" },
      );
      const again = attachJobs(JSON.parse(JSON.stringify(g.refs)));
      const r = await again.result({ interval: 50 });
      assertEquals(r.results.map((x) => x.target), ["local[0]", "local[1]"]);
      assertEquals(r.results.map((x) => [x.stdout, x.stderr, x.exitCode]), [
        ["out 0\n", "err 0\n", 0],
        ["out 1\n", "err 1\n", 1],
      ]);
      await assertRejects(() => again.wait({ interval: 50 }), GroupError, "exited with code 1");
      await assertRejects(
        () => detach(local().run("true"), { root, name: "../x" }),
        TypeError,
        "is not valid",
      );
      await assertRejects(() => detach(local().run("true"), { root: "rel/dir" }), TypeError, "'/'");
      await again.forget();
      assertEquals([...Deno.readDirSync(root)], []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "examples/long_job.ts: a detached job followed to its end",
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const { startLongJob, followAll } = await import("../examples/long_job.ts");
    const jobs = await startLongJob(local(), 2, 1);
    try {
      assertEquals(await followAll(attachJobs(jobs.refs)), [0]);
      const r = await jobs.result();
      assertMatch(r.results[0].stdout, /^tick 1 of 2 on .*\ntick 2 of 2 on /);
    } finally {
      await jobs.forget();
    }
  },
});
