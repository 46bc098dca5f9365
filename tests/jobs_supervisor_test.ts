/**
 * The supervisor of detached jobs on the sshd testbed, under both test users (dash and bash
 * login shells), each claim checked from outside on the host (/proc, ps): its own session,
 * the heartbeat, the login shell, files 0600/0700, the atomic exit record, output from an
 * offset, a folder removed behind dexp's back, a start that fails, and a start that confirms
 * after its controller and its connection are gone.
 */
import { assert, assertEquals, assertRejects, tempDir, waitFor } from "./assert.ts";
import { homeOf, hostSpec, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { isGone, readStat, sessionOf, sessionProcs } from "./harness/_proc.ts";
import { bootId, heldOnFifo, makeFifo, releaseFifo } from "./harness/fifo.ts";
import { detach, GroupError, type Hosts, hosts, type Job, listJobs, sh } from "../mod.ts";

const dec = new TextDecoder();

function nodes(tb: Testbed, user: string): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

async function jobsRoot(user: string): Promise<{ root: string; abs: string }> {
  const name = `.dexp-test-jobs-${crypto.randomUUID().slice(0, 8)}`;
  return { root: `~/${name}`, abs: `${await homeOf(user)}/${name}` };
}

async function killSession(sid: number): Promise<void> {
  await waitFor("the end of the session", async () => {
    const left = await sessionProcs(sid);
    for (const p of left) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* gone */ }
    }
    return left.length === 0 || undefined;
  });
}

async function pidFile(abs: string, job: Job): Promise<number[]> {
  return (await Deno.readTextFile(`${abs}/${job.id}/pid`)).trim().split(" ").map(Number);
}

async function text(job: Job, from = 0): Promise<string> {
  return dec.decode((await job.output({ from })).data);
}

for (const shell of ["dash", "bash"] as const) {
  const user = USERS[shell];

  sshTest(
    `[${shell}] the job has a session of its own, a heartbeat, and runs in the login shell`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      await using n = nodes(tb, user);
      const { root, abs } = await jobsRoot(user);
      let sid = 0;
      try {
        const g = await detach(
          n.run('echo "shell=${BASH_VERSION:+bash}"; echo "dir=$DEXP_JOB_DIR"; sleep 1000'),
          { root, heartbeat: 1 },
        );
        const job = g.jobs[0];
        // detach() returned: the start is confirmed, its record is on the host, and the
        // supervisor runs with the recorded start time, in the session that sshd made for the
        // start command (its leader, the login shell, has ended or is ending), not in sshd's.
        const [pid, start, sup, supStart] = await pidFile(abs, job);
        sid = pid;
        assert(pid !== sup && start > 0, `pid file: ${[pid, start, sup, supStart]}`);
        assertEquals((await readStat(sup))?.starttime, supStart);
        assertEquals(await sessionOf(sup), pid, "the supervisor is not in the job's session");
        await waitFor(
          "the end of the session's leader",
          async () => await isGone(pid, start) || undefined,
        );
        const procs = await waitFor("the command", async () => {
          const p = await sessionProcs(pid);
          return p.length >= 2 ? p : undefined;
        });
        assert(procs.includes(sup), `session ${pid}: ${procs}`);
        // The sshd daemon is in no job session: the job's session is its own.
        for (const d of tb.daemons) {
          const daemon = Number((await Deno.readTextFile(d.pidFile)).trim());
          assert(await sessionOf(daemon) !== pid, "the job shares sshd's session");
        }
        // The command ran in the user's login shell, in its job folder.
        const out = await waitFor("the output", async () => {
          const t = await text(job);
          return t.includes("dir=") ? t : undefined;
        });
        assertEquals(out, `shell=${shell === "bash" ? "bash" : ""}\ndir=${abs}/${job.id}\n`);
        // The heartbeat: written, then rewritten with a later uptime.
        const hb = `${abs}/${job.id}/heartbeat`;
        const first = await waitFor("a heartbeat", async () => {
          const t = (await Deno.readTextFile(hb).catch(() => "")).trim();
          return /^\d+$/.test(t) ? Number(t) : undefined;
        });
        await waitFor("a later heartbeat", async () => {
          const t = (await Deno.readTextFile(hb).catch(() => "")).trim();
          return /^\d+$/.test(t) && Number(t) > first || undefined;
        });
        const st = await job.status();
        assert(st.state === "running" && st.heartbeatAge !== null, JSON.stringify(st));
        assertEquals(st.state === "running" && st.pid, pid);
        // Private files: the root and the folder 0700, every file 0600.
        assertEquals(((await Deno.stat(abs)).mode! & 0o777).toString(8), "700");
        assertEquals(((await Deno.stat(`${abs}/${job.id}`)).mode! & 0o777).toString(8), "700");
        const names: string[] = [];
        for await (const e of Deno.readDir(`${abs}/${job.id}`)) {
          const mode = (await Deno.stat(`${abs}/${job.id}/${e.name}`)).mode! & 0o777;
          assertEquals(`${e.name} ${mode.toString(8)}`, `${e.name} 600`);
          names.push(e.name);
        }
        assertEquals(names.sort(), ["cmdline", "heartbeat", "meta", "pid", "stderr", "stdout"]);
        assertEquals((await job.kill("SIGTERM", { grace: 200 })).state, "killed");
        assertEquals(await sessionProcs(pid), []);
        await job.forget();
        await assertRejects(() => Deno.lstat(`${abs}/${job.id}`), Deno.errors.NotFound);
      } finally {
        if (sid) await killSession(sid).catch(() => {});
        await Deno.remove(abs, { recursive: true }).catch(() => {});
      }
    },
  );

  sshTest(
    `[${shell}] output from an offset, a follow that resumes, an exit written once`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      await using n = nodes(tb, user);
      const { root, abs } = await jobsRoot(user);
      const dir = await Deno.makeTempDir({ prefix: "dexp-jobs-sup-" });
      await Deno.chmod(dir, 0o755);
      try {
        const gate = `${dir}/gate`;
        const g = await detach(
          n.run(sh`printf 0123456789; while [ ! -e ${gate} ]; do sleep 0.05; done; printf abc`),
          { root },
        );
        const job = g.jobs[0];
        await waitFor("the first bytes", async () => (await job.output()).size >= 10 || undefined);
        const part = await job.output({ from: 4 });
        assertEquals([dec.decode(part.data), part.next, part.done], ["456789", 10, false]);
        assertEquals(dec.decode((await job.output({ from: 2, chunk: 3 })).data), "234");
        // A follow taken up at byte 8 gives the rest, including what comes later.
        const got: string[] = [];
        const follow = (async () => {
          for await (const c of job.follow({ from: 8, interval: 50 })) got.push(dec.decode(c));
        })();
        await waitFor("the follow's first chunk", () => got.length > 0 || undefined);
        await Deno.writeTextFile(gate, "");
        await follow;
        assertEquals(got.join(""), "89abc");
        const end = await job.output({ from: 13 });
        assertEquals([end.data.length, end.done], [0, true]);
        // The exit status, one complete line; no temporary file left.
        assertEquals(await Deno.readTextFile(`${abs}/${job.id}/exit`), "0\n");
        const names = [...Deno.readDirSync(`${abs}/${job.id}`)].map((e) => e.name);
        assert(!names.some((x) => x.startsWith(".")), `left in the folder: ${names}`);
        await job.forget();
        assertEquals([...Deno.readDirSync(abs)].map((e) => e.name), []);
      } finally {
        await Deno.remove(abs, { recursive: true }).catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  sshTest(`[${shell}] a job whose folder was removed behind dexp's back is lost`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    let sid = 0;
    let sup = 0;
    try {
      const g = await detach(n.run("sleep 1000"), { root });
      const job = g.jobs[0];
      [sid, , sup] = await pidFile(abs, job);
      assertEquals((await job.status()).state, "running");
      await Deno.remove(`${abs}/${job.id}`, { recursive: true });
      const st = await job.status();
      assertEquals(st.state === "lost" && st.reason, "folder removed");
      const r = await job.result();
      assertEquals([r.failure, r.exitCode], ["lost", null]);
      assert(!(await isGone(sup)), "the job runs on: dexp lost track of it, it did not end it");
    } finally {
      if (sid) await killSession(sid).catch(() => {});
      await Deno.remove(abs, { recursive: true }).catch(() => {});
    }
  });

  sshTest(`[${shell}] an exit record is taken only when whole`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    let sid = 0;
    try {
      const g = await detach(n.run("sleep 1000"), { root });
      const job = g.jobs[0];
      [sid] = await pidFile(abs, job);
      const exit = `${abs}/${job.id}/exit`;
      // As a reader could find it while the supervisor writes it: created, then filled.
      for (const partial of ["", "13"]) {
        await Deno.writeTextFile(exit, partial);
        const st = await job.status();
        assertEquals(st.state, "running", `exit file ${JSON.stringify(partial)}`);
        assertEquals((await job.output()).done, false, `exit file ${JSON.stringify(partial)}`);
      }
      await Deno.writeTextFile(exit, "13\n");
      const st = await job.status();
      assertEquals(st.state === "exited" && st.code, 13);
    } finally {
      if (sid) await killSession(sid).catch(() => {});
      await Deno.remove(abs, { recursive: true }).catch(() => {});
    }
  });

  sshTest(`[${shell}] a start that cannot make its folder fails and leaves nothing`, async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using n = nodes(tb, user);
    const { root, abs } = await jobsRoot(user);
    try {
      // The jobs root is a file on the host: no folder can be made under it.
      await Deno.writeTextFile(abs, "not a folder");
      const e = await assertRejects(() => detach(n.run("true"), { root }), GroupError);
      assertEquals(e.result.results.map((r) => r.reason), [
        "Could not start the detached job: cannot create the jobs folder",
        "Could not start the detached job: cannot create the jobs folder",
      ]);
      const g = await detach(n.run("true").noThrow(), { root });
      assertEquals([g.length, g.failed.length], [0, 2]);
      assertEquals(await Deno.readTextFile(abs), "not a folder");
    } finally {
      await Deno.remove(abs, { recursive: true }).catch(() => {});
    }
  });
}

for (const shell of ["dash", "bash"] as const) {
  const user = USERS[shell];

  sshTest(
    `[${shell}] a start whose controller and connection are gone before it confirms still supervises its job`,
    async () => {
      await using tb = await startTestbed({ hosts: 1 });
      const { root, abs } = await jobsRoot(user);
      await using dir = await tempDir("dexp-sup-drop-");
      await Deno.chmod(dir.path, 0o777);
      try {
        // The start is held on the host: its read of the boot-id file blocks on a FIFO.
        const fifo = `${dir.path}/boot_id`;
        await makeFifo(fifo);
        const program = `${dir.path}/start.ts`;
        await Deno.writeTextFile(
          program,
          `import { detach, hosts } from ${
            JSON.stringify(new URL("../mod.ts", import.meta.url).href)
          };
await detach(hosts(${JSON.stringify(hostSpec(tb, 0, user))}).run("sleep 1; echo hi; exit 3"), ${
            JSON.stringify({ name: "dropped", root, bootIdFile: fifo })
          });
`,
        );
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", program],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        // The held start: blocked opening the FIFO, under this testbed's sshd.
        const daemon = Number((await Deno.readTextFile(tb.daemons[0].pidFile)).trim());
        const underDaemon = async (pid: number): Promise<boolean> => {
          for (let p = pid, i = 0; p > 1 && i < 8; i++) {
            const st = await readStat(p);
            if (!st) return false;
            if (st.ppid === daemon) return true;
            p = st.ppid;
          }
          return false;
        };
        const shellPid = (await heldOnFifo((p) => underDaemon(p.pid))).pid;
        // The controller dies (no cleanup), then the connection: its sshd session process.
        child.kill("SIGKILL");
        await child.status;
        // (The start script runs in a subshell of the login shell, the session leader, whose
        // parent is sshd's process for the connection.)
        const leader = (await readStat(shellPid))!.session;
        const sessionProc = (await readStat(leader))!.ppid;
        Deno.kill(sessionProc, "SIGKILL");
        await waitFor("the session process to end", async () => await isGone(sessionProc));
        // Let the start go on: it confirms into a closed channel.
        const id = await bootId();
        await releaseFifo(fifo, id);
        // Later reads of the boot id see a plain file (the job's status reads it).
        await Deno.writeTextFile(`${dir.path}/boot_id.real`, id);
        await Deno.rename(`${dir.path}/boot_id.real`, fifo);
        await using n = hosts(hostSpec(tb, 0, user));
        const job = await waitFor("the job to be listed", async () => {
          const l = await listJobs(n, { root, name: "dropped" });
          return l.length === 1 ? l[0].job : undefined;
        });
        await waitFor("the job to end", async () => (await job.status()).state !== "running");
        const st = await job.status();
        assertEquals(st.state === "exited" && st.code, 3, JSON.stringify(st));
        assertEquals(await text(job), "hi\n");
      } finally {
        await Deno.remove(abs, { recursive: true }).catch(() => {});
      }
    },
  );
}
