/**
 * The Slurm layer against a real single-machine Slurm cluster (tests/harness/slurm.ts):
 * allocations as groups, kill and timeout of job steps (checked from outside, in /proc),
 * an allocation cancelled under running commands, and the errors of bad input.
 *
 * @module
 */

import {
  GroupError,
  querySlurmJobs,
  slurmAllocate,
  SlurmError,
  type SlurmJobState,
  type SlurmProgress,
  SlurmTracker,
} from "../mod.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { listProcs, readEnvVar } from "./harness/_proc.ts";
import { type SlurmCluster, slurmTest, startSlurmCluster } from "./harness/slurm.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for a condition; the deadline is a safety net, never the thing tested. */
async function waitFor(what: string, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Live processes (not zombies) whose environment has DEXP_TEST_TAG=tag. */
async function tagged(tag: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await listProcs()) {
    if (p.state === "Z" || p.state === "X") continue;
    if ((await readEnvVar(p.pid, "DEXP_TEST_TAG")) === tag) out.push(p.pid);
  }
  return out;
}

/** Live processes of the command: tagged, and not the local srun that started it. */
async function commandProcs(tag: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await tagged(tag)) {
    // The step's processes carry SLURM_STEP_ID; the local srun does not.
    if ((await readEnvVar(pid, "SLURM_STEP_ID")) !== null) out.push(pid);
  }
  return out;
}

/** Jobs squeue lists by default (pending, running, completing ...). */
async function activeJobs(sc: SlurmCluster): Promise<string[]> {
  const r = await sc.client("squeue", ["-h", "-o", "%i %T"]);
  assertEquals(r.code, 0, r.out);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

/** Steps squeue lists for a job (not the batch step). */
async function steps(sc: SlurmCluster, jobId: string): Promise<string[]> {
  const r = await sc.client("squeue", ["-h", "-s", "-j", jobId, "-o", "%i"]);
  if (r.code !== 0) return [];
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^\d+\.\d+$/.test(l));
}

function newTag(): string {
  return crypto.randomUUID();
}

slurmTest("an allocation of 2 nodes runs a group command on both, then is released", async () => {
  await using sc = await startSlurmCluster({ nodes: 4 });
  const progress: SlurmProgress[] = [];
  const alloc = await slurmAllocate({
    nodes: 2,
    time: "10m",
    env: sc.env,
    onProgress: (p) => progress.push(p),
  });
  const jobId = alloc.jobId!;
  assertMatch(jobId, /^\d+$/);
  assertEquals(alloc.length, 2);
  assertEquals(progress.at(-1)?.state, "RUNNING");
  assertEquals(progress.at(-1)?.jobId, jobId);
  try {
    const r = await alloc.run("echo $SLURMD_NODENAME $SLURM_JOB_ID").quiet();
    assertEquals(r.text(), alloc.nodes.map((n) => `${n} ${jobId}`));
    assertEquals(new Set(alloc.nodes).size, 2);
    // Environment, working directory and an argv array reach the step.
    const e = await alloc.run(["sh", "-c", 'pwd; printf "%s\\n" "$X"'])
      .env({ X: "a 'b' c" }).cwd("/tmp").quiet();
    assertEquals(e.text(), ["/tmp\na 'b' c", "/tmp\na 'b' c"]);
    // A failing command is the command's failure, not Slurm's.
    const f = await alloc.run("exit 3").quiet().noThrow();
    assertEquals(f.results.map((x) => [x.failure, x.exitCode]), [["exit", 3], ["exit", 3]]);
    assertEquals((await activeJobs(sc)).length, 1);
  } finally {
    await alloc.release();
  }
  assertEquals(await activeJobs(sc), []);
  const q = await sc.queue();
  assertEquals(q.find((j) => j.id === jobId)?.state, "CANCELLED");
  // Released: commands no longer start, with a clear reason.
  const after = await alloc.run("true").quiet().noThrow();
  assertEquals(after.results[0].failure, "connect");
  assertMatch(after.results[0].reason!, new RegExp(`Slurm allocation ${jobId} was released`));
});

slurmTest("each step gets the allocation's CPUs on its node, the batch node included", async () => {
  await using sc = await startSlurmCluster({ nodes: 2, cpus: 4 });
  await using alloc = await slurmAllocate({ nodes: 2, cpusPerTask: 3, env: sc.env });
  assertEquals(alloc.targets.map((t) => t.cpus), [3, 3]);
  const r = await alloc.run("echo $SLURM_CPUS_PER_TASK").quiet();
  assertEquals(r.text(), ["3", "3"]);
});

slurmTest("kill() ends the steps on every node: no process of the command is left", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  await using alloc = await slurmAllocate({ nodes: 2, env: sc.env });
  const tag = newTag();
  const running = alloc.run("sleep 1000 & sleep 1001; wait").env({ DEXP_TEST_TAG: tag })
    .quiet().spawn();
  // Two sleeps and their shell on each node.
  await waitFor("the commands to start", async () => (await commandProcs(tag)).length >= 6);
  await running.kill();
  const r = await running.result();
  assertEquals(r.results.map((x) => x.failure), ["killed", "killed"]);
  await waitFor("the step processes to go", async () => (await commandProcs(tag)).length === 0);
  assertEquals(await tagged(tag), []);
  await waitFor("the steps to end", async () => (await steps(sc, alloc.jobId!)).length === 0);
});

slurmTest("kill() gives the step its grace period: its TERM trap runs to the end", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  await using alloc = await slurmAllocate({ nodes: 1, env: sc.env });
  const running = alloc
    .run("trap 'echo got TERM; sleep 1; echo cleaned up; exit 3' TERM; echo up; sleep 1000 & wait")
    .quiet().killGrace("30s").spawn();
  await running.expect("up");
  await running.kill();
  const r = (await running.result()).results[0];
  assertEquals(r.failure, "killed");
  // srun itself turns a SIGTERM into a SIGKILL of the step: the step must get the TERM.
  assertEquals(r.stdout, "up\ngot TERM\ncleaned up\n");
  assertEquals(r.exitCode, 3);
});

slurmTest("a timeout ends a step that ignores SIGTERM (SIGKILL after the grace)", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  await using alloc = await slurmAllocate({ nodes: 1, env: sc.env });
  const tag = newTag();
  const running = alloc.run("trap '' TERM; echo up; sleep 1000 & sleep 1001; wait")
    .env({ DEXP_TEST_TAG: tag }).quiet().killGrace("1s").noThrow().spawn();
  await running.expect("up");
  await waitFor("the sleeps", async () => (await commandProcs(tag)).length >= 3);
  // kill() with SIGTERM, which the shell ignores: SIGKILL must follow after the grace.
  await running.kill("SIGTERM");
  assertEquals((await running.result()).results[0].failure, "killed");
  await waitFor("the step processes to go", async () => (await commandProcs(tag)).length === 0);

  const tag2 = newTag();
  const r = await alloc.run("trap '' TERM; sleep 1000 & sleep 1001; wait")
    .env({ DEXP_TEST_TAG: tag2 }).quiet().timeout("2s").killGrace("1s").noThrow();
  assertEquals(r.results[0].failure, "timeout");
  assert(r.results[0].timedOut);
  await waitFor(
    "the timed-out step's processes to go",
    async () => (await commandProcs(tag2)).length === 0,
  );
  assertEquals(await tagged(tag2), []);
  await waitFor("the steps to end", async () => (await steps(sc, alloc.jobId!)).length === 0);
});

slurmTest("release() stops the commands still running, then cancels the allocation", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  const alloc = await slurmAllocate({ nodes: 2, env: sc.env });
  const tag = newTag();
  const running = alloc.run("sleep 1000").env({ DEXP_TEST_TAG: tag }).quiet().spawn();
  await waitFor("the commands to start", async () => (await commandProcs(tag)).length >= 2);
  await alloc.release();
  assertEquals((await running.result()).results.map((x) => x.failure), ["killed", "killed"]);
  assertEquals(await tagged(tag), []);
  assertEquals(await activeJobs(sc), []);
  // Twice is fine.
  await alloc.release();
});

slurmTest("an allocation cancelled from outside fails its running commands clearly", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  await using alloc = await slurmAllocate({ nodes: 2, env: sc.env });
  const jobId = alloc.jobId!;
  const tag = newTag();
  const running = alloc.run("sleep 1000").env({ DEXP_TEST_TAG: tag }).quiet().spawn();
  await waitFor("the commands to start", async () => (await commandProcs(tag)).length >= 2);
  // As a preemption or an administrator would.
  assertEquals((await sc.client("scancel", [jobId])).code, 0);
  const e = await assertRejects(() => running.wait(), GroupError);
  for (const x of e.result.results) {
    assertEquals(x.failure, "connect");
    assertMatch(x.reason!, new RegExp(`Slurm allocation ${jobId} ended while the command ran`));
    assertMatch(x.reason!, /slurmAllocate\(\)/);
  }
  assertMatch(e.message, new RegExp(`allocation ${jobId} ended`));
  await waitFor("the processes to go", async () => (await commandProcs(tag)).length === 0);
  // A command started afterwards says the allocation has ended.
  const late = await alloc.run("true").quiet().noThrow();
  assertEquals(late.results.map((x) => x.failure), ["connect", "connect"]);
  assertMatch(late.results[0].reason!, new RegExp(`allocation ${jobId} has ended`));
  await alloc.release();
  assertEquals(await activeJobs(sc), []);
});

slurmTest("an unknown partition is refused with the partitions there are", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  const e = await assertRejects(
    () => slurmAllocate({ partition: "nope", env: sc.env }),
    SlurmError,
    "Slurm has no partition 'nope': use one of 'debug'",
  );
  assertEquals(e.kind, "partition");
  assertEquals(await activeJobs(sc), []);
});

slurmTest("a submission sbatch rejects shows sbatch's message", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  const e = await assertRejects(
    () => slurmAllocate({ extra: ["--time=soon"], env: sc.env }),
    SlurmError,
    "sbatch refused the allocation: Invalid --time specification",
  );
  assertEquals(e.kind, "rejected");
  assertMatch(e.message, /--time=soon/);
  assertEquals(await activeJobs(sc), []);
});

slurmTest(
  "an allocation still pending at 'pendingLimit' is cancelled, with the reason",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 2, cpus: 4 });
    // Every CPU of the cluster: the next allocation has to wait for Resources.
    await using all = await slurmAllocate({ nodes: 2, cpusPerTask: 4, env: sc.env });
    const progress: SlurmProgress[] = [];
    const e = await assertRejects(
      () =>
        slurmAllocate({
          nodes: 2,
          pendingLimit: "1s",
          env: sc.env,
          onProgress: (p) => progress.push(p),
        }),
      SlurmError,
      "was still pending after 1 s",
    );
    assertEquals(e.kind, "pending");
    assertMatch(e.message, /reason: Resources, position 1 in partition 'debug'/);
    assertMatch(e.message, /raise 'pendingLimit'/);
    assert(progress.length > 0 && progress.every((p) => p.state === "PENDING"));
    assertEquals(progress[0].position, 1);
    // Only the first allocation is left.
    assertEquals(await activeJobs(sc), [`${all.jobId} RUNNING`]);
  },
);

slurmTest("one batched query tracks running, finished, failed and pending jobs", async () => {
  await using sc = await startSlurmCluster({ nodes: 1, cpus: 2 });
  const submit = async (...args: string[]) => {
    const r = await sc.client("sbatch", ["--parsable", "--output=/dev/null", ...args]);
    assertEquals(r.code, 0, r.out);
    return r.stdout.trim();
  };
  const long = await submit("-c", "2", "--wrap", "sleep 1000");
  const waiting = await submit("-c", "2", "--wrap", "true");
  const ok = await submit("-c", "1", "--dependency=afterany:" + waiting, "--wrap", "true");
  const bad = await submit("-c", "1", "--dependency=afterany:" + ok, "--wrap", "exit 3");
  const unknown = "999999";
  const tracker = new SlurmTracker([long, waiting, ok, unknown], {
    env: sc.env,
    jobcompFile: sc.jobcompFile,
    minInterval: 100,
    maxInterval: 1000,
  });
  await waitFor("the first job to run", async () => {
    await tracker.poll();
    return tracker.states.get(long)?.outcome === "running";
  });
  assertEquals(tracker.states.get(long)?.nodes, "n1");
  assertEquals(tracker.states.get(waiting)?.outcome, "pending");
  assertEquals(tracker.states.get(waiting)?.reason, "Resources");
  assertEquals(tracker.states.get(ok)?.reason, "Dependency");
  assertEquals(tracker.states.has(unknown), false);
  // Let the others go: cancel the long one, then follow everything to the end.
  await sc.client("scancel", [long]);
  const seen: SlurmJobState[] = [];
  const final = await new SlurmTracker([long, waiting, ok, bad], {
    env: sc.env,
    minInterval: 100,
  }).wait((s) => seen.push(s));
  assertEquals(
    [long, waiting, ok, bad].map((id) => final.get(id)?.outcome),
    ["cancelled", "completed", "completed", "failed"],
  );
  assertEquals(final.get(bad)?.reason, "NonZeroExitCode");
  assert(seen.some((s) => s.jobId === ok && s.outcome === "completed"));
  // The batch is one squeue for all of them, and it tolerates ids it does not know.
  const m = await querySlurmJobs([long, unknown], { env: sc.env });
  assertEquals([...m.keys()], [long]);
  assertEquals((await querySlurmJobs([unknown], { env: sc.env })).size, 0);
});

slurmTest("a pending allocation is cancelled when its wait is aborted", async () => {
  await using sc = await startSlurmCluster({ nodes: 1, cpus: 2 });
  await using all = await slurmAllocate({ cpusPerTask: 2, env: sc.env });
  const ac = new AbortController();
  const waiting = slurmAllocate({
    env: sc.env,
    signal: ac.signal,
    onProgress: (p) => p.state === "PENDING" && ac.abort(new Error("enough")),
  });
  await assertRejects(() => waiting, Error, "enough");
  assertEquals(await activeJobs(sc), [`${all.jobId} RUNNING`]);
});

slurmTest("a program interrupted while its allocation is pending cancels it", async () => {
  await using sc = await startSlurmCluster({ nodes: 1, cpus: 2 });
  await using all = await slurmAllocate({ cpusPerTask: 2, env: sc.env });
  const mod = new URL("../mod.ts", import.meta.url).href;
  const script = `import { slurmAllocate } from ${JSON.stringify(mod)};
await slurmAllocate({ onProgress: (p) => console.log(p.state, p.jobId) });`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { ...sc.env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/PENDING \d+/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const pending = /PENDING (\d+)/.exec(seen)![1];
  assertEquals((await sc.queue()).find((j) => j.id === pending)?.state, "PENDING");
  child.kill("SIGINT");
  await reader.cancel();
  await child.stderr.cancel();
  await child.status;
  await waitFor(
    "the pending allocation to be cancelled",
    async () => (await sc.queue()).find((j) => j.id === pending)?.state === "CANCELLED",
  );
  assertEquals(await activeJobs(sc), [`${all.jobId} RUNNING`]);
});

slurmTest("an array's id gives the state of every task, finished ones from the log", async () => {
  await using sc = await startSlurmCluster({ nodes: 2, cpus: 1, minJobAge: 2 });
  const r = await sc.client("sbatch", [
    "--parsable",
    "--array=0-3%2",
    "--output=/dev/null",
    "--wrap",
    "sleep 1",
  ]);
  assertEquals(r.code, 0, r.out);
  const array = r.stdout.trim();
  const tasks = [0, 1, 2, 3].map((t) => `${array}_${t}`);
  const first = await querySlurmJobs([array], { env: sc.env });
  assertEquals([...first.keys()].sort(), tasks);
  const final = await new SlurmTracker([array], {
    env: sc.env,
    jobcompFile: sc.jobcompFile,
    minInterval: 100,
  }).wait();
  assertEquals([...final.keys()].sort(), tasks);
  assert([...final.values()].every((s) => s.outcome === "completed"));
  // Once the controller has forgotten the array, the completion log still knows its tasks,
  // under the names squeue gave them.
  await waitFor("the controller to forget the array", async () => {
    const q = await sc.client("squeue", ["-h", "-r", "-t", "all", "-j", array, "-o", "%i"]);
    return q.code !== 0 || q.stdout.trim() === "";
  });
  assertEquals((await querySlurmJobs([array], { env: sc.env })).size, 0);
  const log = await querySlurmJobs([array], { env: sc.env, jobcompFile: sc.jobcompFile });
  assertEquals([...log.keys()].sort(), tasks);
  assert([...log.values()].every((s) => s.outcome === "completed" && s.final));
  const one = await querySlurmJobs([tasks[2]], { env: sc.env, jobcompFile: sc.jobcompFile });
  assertEquals([...one.keys()], [tasks[2]]);
});

Deno.test("no Slurm on the machine: the error names the fix", async () => {
  const e = await assertRejects(
    () => slurmAllocate({ env: { PATH: "/nonexistent" } }),
    SlurmError,
    "Slurm's 'sbatch' was not found on this machine",
  );
  assertEquals(e.kind, "missing");
  assertMatch(e.message, /SLURM_CONF/);
});

Deno.test("bad options are refused before anything is submitted", () => {
  return (async () => {
    await assertRejects(() => slurmAllocate({ nodes: 0 }), RangeError, "'nodes' must be");
    await assertRejects(() => slurmAllocate({ time: "soon" }), RangeError, "'time' must be");
    await assertRejects(
      () => slurmAllocate({ partition: "a b" }),
      RangeError,
      "'partition' must be",
    );
    await assertRejects(
      () => slurmAllocate({ pendingLimit: "later" }),
      RangeError,
      "'pendingLimit' must be",
    );
  })();
});
