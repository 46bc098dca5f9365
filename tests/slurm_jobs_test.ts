/**
 * Detached jobs on the nodes of a Slurm allocation over srun (no ssh), against a real
 * single-machine cluster (tests/harness/slurm.ts). The fake nodes run on this machine, so
 * every claim is checked from outside, in /proc: the job's processes, its session, and the
 * local srun client that holds its step.
 *
 * @module
 */

import {
  attachJobs,
  detach,
  GroupError,
  type Job,
  type JobRef,
  listJobs,
  slurmAllocate,
} from "../mod.ts";
import { assert, assertEquals, assertMatch, assertRejects, tempDir, waitFor } from "./assert.ts";
import { isGone, sessionOf, sessionProcs } from "./harness/_proc.ts";
import { type SlurmCluster, slurmTest, startSlurmCluster } from "./harness/slurm.ts";

/** The recorded `SID SIDSTART SUPPID SUPSTART` of a job (the nodes are this machine). */
async function pidFile(root: string, job: { id: string }): Promise<number[]> {
  return (await Deno.readTextFile(`${root}/${job.id}/pid`)).trim().split(" ").map(Number);
}

/** The local srun client of a job: its log and its `DEXP-SRUN PID START` line. */
function clientLog(ref: JobRef): string {
  assert("slurm" in ref.host, `a job on a Slurm node: ${JSON.stringify(ref.host)}`);
  return `${ref.host.slurm.clients}/${ref.id}.log`;
}

async function clientOf(ref: JobRef): Promise<{ pid: number; start: number }> {
  const m = /^DEXP-SRUN (\d+) (\d+)\n/.exec(await Deno.readTextFile(clientLog(ref)));
  assert(m, `the client log of ${ref.id} names its srun client`);
  return { pid: Number(m[1]), start: Number(m[2]) };
}

const cliMain = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function activeJobs(sc: SlurmCluster): Promise<string[]> {
  const r = await sc.client("squeue", ["-h", "-o", "%i %T"]);
  assertEquals(r.code, 0, r.out);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

slurmTest(
  "a detached job on 2 allocation nodes survives SIGKILL of its controller; refs attach later",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 2 });
    await using dir = await tempDir("dexp-slurm-jobs-");
    const root = `${dir.path}/jobs`;
    const gate = `${dir.path}/gate`;
    const script = `${dir.path}/controller.ts`;
    await Deno.writeTextFile(
      script,
      `import * as dexp from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
const alloc = await dexp.slurmAllocate({ nodes: 2, env: ${JSON.stringify(sc.env)} });
const g = await dexp.detach(
  alloc.run(dexp.sh\`echo begin $SLURMD_NODENAME; echo to-err >&2; while [ ! -e \${${
        JSON.stringify(gate)
      }} ]; do sleep 0.05; done; echo end $SLURMD_NODENAME; exit 7\`),
  { root: ${JSON.stringify(root)} },
);
console.log(JSON.stringify({ jobId: alloc.jobId, refs: g.refs }));
setInterval(() => {}, 1000); // stays alive until the test kills it
await new Promise(() => {});`,
    );
    const config = new URL("../deno.json", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${config}`, script],
      stdin: "null",
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const { jobId, refs } = JSON.parse(seen) as { jobId: string; refs: JobRef[] };
    try {
      assertEquals(refs.length, 2);
      assertEquals(refs.map((r) => "slurm" in r.host && r.host.slurm.node), ["n1", "n2"]);
      // From outside: each job still runs, in a session of its own (its supervisor leads
      // it), and the local srun client that holds its step survived the controller.
      for (const ref of refs) {
        const [pid, start, sup, supStart] = await pidFile(root, ref);
        assert(!(await isGone(pid, start)), `job ${ref.id} must still run after the SIGKILL`);
        assert(!(await isGone(sup, supStart)), `the supervisor of ${ref.id} must still run`);
        assertEquals(await sessionOf(pid), sup, "the job runs in its supervisor's session");
        assertEquals(sup, pid, "the supervisor leads the job's session");
        const c = await clientOf(ref);
        assert(!(await isGone(c.pid, c.start)), `the srun client of ${ref.id} must survive`);
      }
      const group = attachJobs(JSON.stringify(refs));
      assertEquals((await group.status()).map((s) => s.state), ["running", "running"]);

      await Deno.writeTextFile(gate, "");
      const r = await group.result({ interval: 100 });
      assertEquals(r.results.map((x) => x.stdout), ["begin n1\nend n1\n", "begin n2\nend n2\n"]);
      assertEquals(r.results.map((x) => x.stderr), ["to-err\n", "to-err\n"]);
      assertEquals(r.results.map((x) => [x.exitCode, x.failure]), [[7, "exit"], [7, "exit"]]);
      assertEquals(r.results.map((x) => x.target), ["n1", "n2"]);
      await assertRejects(() => group.wait({ interval: 100 }), GroupError, "exited with code 7");
      // The CLI takes a Slurm reference back too (another process, no allocation object).
      const refFile = `${dir.path}/ref.json`;
      await Deno.writeTextFile(refFile, JSON.stringify(refs[1]));
      const cli = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `--config=${config}`, cliMain, "jobs", "log", refFile],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assertEquals(
        [cli.code, dec.decode(cli.stdout)],
        [0, "begin n2\nend n2\n"],
        dec.decode(cli.stderr),
      );
      await group.forget();
      for (const ref of refs) {
        assertEquals(await exists(`${root}/${ref.id}`), false, "forget() removes the job folder");
        assertEquals(await exists(clientLog(ref)), false, "forget() removes the client log");
      }
    } finally {
      await sc.client("scancel", [jobId]);
    }
  },
);

slurmTest(
  "kill() ends the whole job tree and its srun client; forget() leaves nothing",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 2 });
    await using dir = await tempDir("dexp-slurm-jobs-");
    const root = `${dir.path}/jobs`;
    await using alloc = await slurmAllocate({ nodes: 1, env: sc.env });
    const g = await detach(
      alloc.run(`sh -c 'trap "" TERM; sleep 1000' & sleep 1000 & (sleep 1000) & echo ready; wait`),
      { root },
    );
    const job: Job = g.jobs[0];
    await waitFor("ready", async () => {
      const o = await job.output();
      return new TextDecoder().decode(o.data).includes("ready") || undefined;
    });
    const [sid] = await pidFile(root, job);
    const before = await waitFor("the children", async () => {
      const p = await sessionProcs(sid);
      return p.length >= 5 ? p : undefined;
    });
    assert(before.length >= 5, `expected the supervisor, the shell and its children: ${before}`);
    const client = await clientOf(job.ref);
    assert(!(await isGone(client.pid, client.start)), "the srun client holds the job's step");
    // Listing the node's jobs finds it (a short step of its own), under the same host.
    const listed = await listJobs(alloc, { root });
    assertEquals(listed.map((l) => [l.job.id, l.status.state]), [[job.id, "running"]]);
    assertEquals(listed[0].job.ref.host, job.ref.host);
    const st = await job.kill("SIGTERM", { grace: 300 });
    assertEquals(st.state, "killed");
    assertEquals(await sessionProcs(sid), [], "nothing of the job may run after kill()");
    assert(await isGone(client.pid, client.start), "the srun client ended with the job's step");
    const r = await job.result();
    assertEquals([r.failure, r.killed], ["killed", true]);
    await job.forget();
    assertEquals(await exists(`${root}/${job.id}`), false, "forget() removes the job folder");
    assertEquals(await exists(clientLog(job.ref)), false, "forget() removes the client log");
  },
);

slurmTest("releasing the allocation ends its detached jobs: their state says so", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  await using dir = await tempDir("dexp-slurm-jobs-");
  const root = `${dir.path}/jobs`;
  const alloc = await slurmAllocate({ nodes: 2, env: sc.env });
  const jobId = alloc.jobId!;
  let g;
  try {
    g = await detach(alloc.run("echo up; sleep 1000"), { root });
    assertEquals((await g.status()).map((s) => s.state), ["running", "running"]);
  } finally {
    await alloc.release();
  }
  assertEquals(await activeJobs(sc), [], "nothing of the allocation is left in squeue");
  for (const job of g.jobs) {
    const [pid, start, sup, supStart] = await pidFile(root, job);
    assert(await isGone(pid, start), `the command of ${job.id} ended with the allocation`);
    assert(await isGone(sup, supStart), `the supervisor of ${job.id} ended with the allocation`);
    const c = await clientOf(job.ref);
    assert(await isGone(c.pid, c.start), `the srun client of ${job.id} ended with the allocation`);
  }
  const st = await g.status();
  for (const s of st) {
    assertEquals(s.state, "lost");
    if (s.state === "lost") {
      assertEquals(s.reason, "owner ended");
      assertMatch(s.detail, new RegExp(`Slurm allocation ${jobId} was released`));
    }
  }
  // Another process (no allocation object) learns it from Slurm.
  const again = await attachJobs(JSON.stringify(g.refs)).status();
  for (const s of again) {
    assertEquals(s.state, "lost");
    if (s.state === "lost") {
      assertMatch(s.detail, new RegExp(`Slurm allocation ${jobId} has ended`));
    }
  }
  const r = await g.result();
  assertEquals(r.results.map((x) => x.failure), ["lost", "lost"]);
  await g.forget();
  for (const job of g.jobs) {
    assertEquals(await exists(clientLog(job.ref)), false, "forget() removes the client log");
  }
});

slurmTest("a failed start gives a clear error and leaves no srun client nor log", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  await using dir = await tempDir("dexp-slurm-jobs-");
  await Deno.writeTextFile(`${dir.path}/file`, "");
  await using alloc = await slurmAllocate({ nodes: 1, env: sc.env });
  const clients = alloc.targets[0].jobHost.slurm.clients;
  const before = new Set(await logsIn(clients));
  // A jobs root under a file cannot be created.
  const e = await assertRejects(
    () => detach(alloc.run("echo never"), { root: `${dir.path}/file/jobs` }),
    GroupError,
  );
  const r = e.result.results[0];
  assertEquals(r.failure, "spawn");
  assertMatch(r.reason!, /Could not start the detached job: cannot create the jobs folder/);
  assertEquals((await logsIn(clients)).filter((f) => !before.has(f)), [], "no log is left");
  assertEquals(await srunClients(sc), [], "no srun client is left");
  // The allocation still works.
  assertEquals((await alloc.run("echo ok").quiet()).text(), ["ok"]);
});

async function logsIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Local srun clients of this cluster (by SLURM_CONF in their environment), not zombies. */
async function srunClients(sc: SlurmCluster): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    try {
      const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`);
      if (!cmd.startsWith("srun\0")) continue;
      const env = await Deno.readTextFile(`/proc/${pid}/environ`);
      if (!env.split("\0").includes(`SLURM_CONF=${sc.conf}`)) continue;
      if (!(await isGone(pid))) out.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}
