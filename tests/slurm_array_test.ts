/**
 * Sweeps as Slurm job arrays, against a real single-machine cluster (tests/harness/slurm.ts):
 * `dexp run --slurm` submits one array and exits; its tasks claim combinations from the run's
 * shared sweep, so that a requeued task and a cancelled one lose nothing and run nothing
 * twice; `dexp status` shows the tasks beside the combinations; `dexp cancel` cancels.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { ParamSweeper } from "../mod.ts";
import { decodeRec } from "../src/sweep/_format.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { type SlurmCluster, slurmTest, startSlurmCluster } from "./harness/slurm.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const FIXTURE = resolve(import.meta.dirname!, "slurm_fixtures/array40.ts");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for a condition; the deadline is a safety net, never the thing tested. */
async function waitFor(what: string, cond: () => Promise<boolean>, ms = 240_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function dexp(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

/** Every task of the arrays, by squeue (`12_3 RUNNING`). */
async function tasks(sc: SlurmCluster, ids: string[]): Promise<Map<string, string>> {
  const r = await sc.client("squeue", [
    "-h",
    "-r",
    "-t",
    "all",
    "-j",
    ids.join(","),
    "-o",
    "%i|%T",
  ]);
  const out = new Map<string, string>();
  if (r.code !== 0) return out;
  for (const l of r.stdout.split("\n")) {
    const [id, state] = l.split("|");
    if (state) out.set(id, state);
  }
  return out;
}

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"]);

async function allFinal(sc: SlurmCluster, ids: string[], n: number): Promise<boolean> {
  const t = await tasks(sc, ids);
  return t.size >= n && [...t.values()].every((s) => FINAL.has(s));
}

/** Records of the run's sweep journal, by op. */
async function journal(runDir: string): Promise<{ op: string; id?: string }[]> {
  const out: { op: string; id?: string }[] = [];
  for (const l of await lines(join(runDir, ".sweep", "journal"))) {
    const r = decodeRec(l);
    if (r) out.push({ op: r.op, ...("id" in r ? { id: String(r.id) } : {}) });
  }
  return out;
}

slurmTest(
  "an array of 4 tasks runs 40 combinations exactly once through a requeue and a cancel",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 4 });
    const dir = await Deno.makeTempDir({ prefix: "dexp-array-" });
    await Deno.chmod(dir, 0o755);
    try {
      const results = join(dir, "results");
      const env = { ...sc.env, DEXP_T_DIR: dir };
      // The controller submits and exits at once.
      const sub = await dexp(
        ["run", "--slurm", "--tasks", "4", "--no-check", "-r", results, FIXTURE],
        env,
      );
      assertEquals(sub.code, 0, sub.stderr);
      const m = /Submitted Slurm array (\d+) \(4 tasks\) for (\S+):/.exec(sub.stdout);
      assert(m, sub.stdout);
      const [, array, runDir] = m;
      const sj = JSON.parse(await Deno.readTextFile(join(runDir, "slurm.json")));
      assertEquals(sj.arrays.map((a: { jobId: string }) => a.jobId), [array]);
      assertEquals(sj.env.SLURM_CONF, sc.conf);
      // The two blocking combinations are held by two different tasks.
      const holders = async () => {
        const h = new Map<string, string>();
        for (const l of await lines(join(dir, "started.txt"))) {
          const [i, task] = l.split(" ");
          if (i === "0" || i === "1") h.set(i, task);
        }
        return h;
      };
      await waitFor("combinations 0 and 1 to start", async () => (await holders()).size === 2);
      // They cannot finish before the gate opens: the run is not done while the controller is gone.
      const early = await dexp(["status", "--json", results], env);
      assertEquals(early.code, 0, early.stderr);
      const earlyRun = JSON.parse(early.stdout)[0];
      assert(earlyRun.succeeded <= 38, early.stdout);
      assert(earlyRun.slurm.tasks.length >= 1, early.stdout);
      const h = await holders();
      const requeued = h.get("0")!;
      const cancelled = h.get("1")!;
      assert(requeued !== cancelled, `${requeued} ${cancelled}`);
      const where = await sc.client("squeue", ["-h", "-j", requeued, "-o", "%N"]);
      const node = where.stdout.trim();
      assertMatch(node, /^n\d+$/);
      const rq = await sc.client("scontrol", ["requeue", requeued]);
      assertEquals(rq.code, 0, rq.out);
      await waitFor(
        "the requeued task to wait for its start",
        async () => (await tasks(sc, [array])).get(requeued) === "PENDING",
      );
      // Slurm holds a requeued job back for two minutes (BeginTime), the time its node refuses
      // the revoked job id: let it start now, on another node. Asked again until it leaves
      // PENDING: an update made while the requeue settles may not stick, and one that sticks
      // can start the task at once (so "still PENDING after the update" is no test of it).
      await waitFor("the requeued task to start again", async () => {
        await sc.client("scontrol", [
          "update",
          `JobId=${requeued}`,
          "StartTime=now",
          `ExcNodeList=${node}`,
        ]);
        const s = (await tasks(sc, [array])).get(requeued);
        return s !== undefined && s !== "PENDING";
      });
      const ca = await sc.client("scancel", [cancelled]);
      assertEquals(ca.code, 0, ca.out);
      await waitFor("the cancelled task to end", async () => {
        const s = (await tasks(sc, [array])).get(cancelled);
        return s === undefined || FINAL.has(s);
      });
      await Deno.writeTextFile(join(dir, "gate"), "");
      // A resubmitted task (a new array of one for the same run) picks up whatever is left.
      const re = await dexp(
        ["run", "--slurm", "--tasks", "1", "--no-check", "--continue", runDir, FIXTURE],
        env,
      );
      assertEquals(re.code, 0, re.stderr);
      const m2 = /Submitted Slurm array (\d+) \(1 tasks\)/.exec(re.stdout);
      const arrays = m2 ? [array, m2[1]] : [array];
      if (!m2) assertStringIncludes(re.stdout + re.stderr, "0 remaining");
      await waitFor("every task to end", () => allFinal(sc, arrays, 4 + arrays.length - 1));
      const final = await tasks(sc, arrays);
      assertEquals(final.get(cancelled), "CANCELLED");
      // The requeued task ran again (a new process) and ended well.
      const [aj, at] = requeued.split("_");
      assertEquals(
        final.get(requeued),
        "COMPLETED",
        await Deno.readTextFile(join(runDir, `.slurm-${aj}_${at}.out`)).catch(() => "") +
          (await sc.client("scontrol", ["show", "job", requeued])).out +
          (await Deno.readTextFile(sc.jobcompFile)) +
          (await new Deno.Command("sh", {
            args: [
              "-c",
              `grep -h -v -e pmix -e hwloc -e 'MPI:' ${sc.dir}/log/slurmd-*.log | tail -40`,
            ],
          }).output().then((o) => new TextDecoder().decode(o.stdout))),
      );

      // Exactly once: one 'done' per combination in the journal, nothing failed.
      const recs = await journal(runDir);
      const done = recs.filter((r) => r.op === "D").map((r) => r.id!);
      assertEquals(done.length, 40, JSON.stringify(recs.filter((r) => r.op !== "L")));
      assertEquals(new Set(done).size, 40);
      assertEquals(recs.filter((r) => r.op === "F" || r.op === "S").length, 0);
      // Both cut combinations were given back (cancelled by a stopping task, or reaped).
      assert(recs.some((r) => r.op === "X" || r.op === "R"), JSON.stringify(recs));
      await using sw = await ParamSweeper.open(
        join(runDir, ".sweep"),
        Array.from({ length: 40 }, (_, i) => ({ i })),
      );
      const st = await sw.stats();
      assertEquals([st.done, st.failed, st.todo, st.inProgress], [40, 0, 0, 0]);
      // Every result folder: ok on its first counted attempt (a cut attempt is not charged).
      for (let i = 0; i < 40; i++) {
        const rec = JSON.parse(await Deno.readTextFile(join(runDir, `i=${i}`, "result.json")));
        assertEquals([rec.outcome, rec.attempts], ["ok", 1], `i=${i}`);
        assertEquals(await Deno.readTextFile(join(runDir, `i=${i}`, "out.txt")), `${i}\n`);
      }
      // The cut combinations started more than once, by different tasks.
      const starts = (await lines(join(dir, "started.txt"))).map((l) => l.split(" "));
      const of0 = starts.filter((s) => s[0] === "0");
      assert(of0.length >= 2, JSON.stringify(of0));

      // A later status (the controller long gone) shows the final result and the tasks.
      const st2 = await dexp(["status", results], env);
      assertEquals(st2.code, 0, st2.stderr);
      assertMatch(st2.stdout, /array40\s+\S+\s+finished\s+40\s+0\s+0\s+40/);
      assertMatch(st2.stdout, new RegExp(`array ${array}`));
      assertMatch(st2.stdout, /CANCELLED/);
    } finally {
      if (!Deno.env.get("DEXP_TEST_KEEP")) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
);

slurmTest("dexp cancel cancels a run's array and says what it cancelled", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  const dir = await Deno.makeTempDir({ prefix: "dexp-array-" });
  await Deno.chmod(dir, 0o755);
  try {
    const results = join(dir, "results");
    const env = { ...sc.env, DEXP_T_DIR: dir };
    const sub = await dexp(
      [
        "run",
        "--slurm",
        "--tasks",
        "3",
        "--array-throttle",
        "2",
        "--no-check",
        "-r",
        results,
        FIXTURE,
      ],
      env,
    );
    assertEquals(sub.code, 0, sub.stderr);
    const [, array, runDir] = /Submitted Slurm array (\d+) \(3 tasks\) for (\S+):/.exec(
      sub.stdout,
    )!;
    // The throttle holds one task back while two run.
    await waitFor("two tasks to run", async () => {
      const t = [...(await tasks(sc, [array])).values()];
      return t.filter((s) => s === "RUNNING").length === 2;
    });
    const c = await dexp(["cancel", runDir], env);
    assertEquals(c.code, 0, c.stderr);
    assertStringIncludes(c.stdout, `Cancelled Slurm array ${array} of ${runDir}`);
    await waitFor("every task to end", () => allFinal(sc, [array], 3));
    for (const s of (await tasks(sc, [array])).values()) assertEquals(s, "CANCELLED");
    const st = JSON.parse((await dexp(["status", "--json", results], env)).stdout)[0];
    assert(st.succeeded < 40, JSON.stringify(st));
    // Bad use: a run without slurm.json.
    await Deno.remove(join(runDir, "slurm.json"));
    const bad = await dexp(["cancel", runDir], env);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "was not submitted with 'dexp run --slurm'");
  } finally {
    if (!Deno.env.get("DEXP_TEST_KEEP")) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
});

slurmTest(
  "the signal before the time limit stops a task's combination cleanly: it goes back to todo",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 1 });
    const dir = await Deno.makeTempDir({ prefix: "dexp-array-" });
    await Deno.chmod(dir, 0o755);
    try {
      const results = join(dir, "results");
      const env = { ...sc.env, DEXP_T_DIR: dir };
      const sub = await dexp(
        ["run", "--slurm", "--tasks", "1", "--no-check", "-r", results, FIXTURE],
        env,
      );
      assertEquals(sub.code, 0, sub.stderr);
      const [, array, runDir] = /Submitted Slurm array (\d+) \(1 tasks\) for (\S+):/.exec(
        sub.stdout,
      )!;
      await waitFor(
        "combination 0 to start",
        async () => (await lines(join(dir, "started.txt"))).some((l) => l.startsWith("0 ")),
      );
      // What Slurm does at --signal=B:USR1@T: the signal to the batch shell, which is dexp (exec).
      const sig = await sc.client("scancel", ["--batch", "--signal=USR1", `${array}_0`]);
      assertEquals(sig.code, 0, sig.out);
      await waitFor("the task to end", () => allFinal(sc, [array], 1));
      const out = await Deno.readTextFile(join(runDir, `.slurm-${array}_0.out`));
      assertStringIncludes(out, "[i=0] interrupted");
      await using sw = await ParamSweeper.open(
        join(runDir, ".sweep"),
        Array.from({ length: 40 }, (_, i) => ({ i })),
      );
      // Given back by the task itself (not reaped after its death), not failed, not done.
      assertEquals((await sw.stateOf({ i: 0 })).state, "todo");
      const recs = await journal(runDir);
      assert(recs.some((r) => r.op === "X"), JSON.stringify(recs));
      assertEquals(recs.filter((r) => r.op === "F" || r.op === "D").length, 0);
    } finally {
      if (!Deno.env.get("DEXP_TEST_KEEP")) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
);

slurmTest("examples/slurm_sweep.ts runs with dexp run --slurm", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  const dir = await Deno.makeTempDir({ prefix: "dexp-array-" });
  await Deno.chmod(dir, 0o755);
  try {
    const results = join(dir, "results");
    const example = resolve(import.meta.dirname!, "../examples/slurm_sweep.ts");
    const sub = await dexp(
      ["run", "--slurm", "--tasks", "2", "--sbatch", "--time=10:00", "-r", results, example],
      sc.env,
    );
    assertEquals(sub.code, 0, sub.stderr);
    const [, array, runDir] = /Submitted Slurm array (\d+) \(2 tasks\) for (\S+):/.exec(
      sub.stdout,
    )!;
    await waitFor("both tasks to end", () => allFinal(sc, [array], 2));
    const st = JSON.parse((await dexp(["status", "--json", results], sc.env)).stdout)[0];
    assertEquals(
      [st.state, st.succeeded, st.failed, st.total],
      ["finished", 9, 0, 9],
      JSON.stringify(st),
    );
    assertEquals(st.slurm.tasks.map((t: { state: string }) => t.state), ["COMPLETED", "COMPLETED"]);
    const d = JSON.parse(await Deno.readTextFile(join(runDir, "algo=md5_mb=1", "digest.json")));
    assertEquals(d.digest, "b6d81b360a5672d80c27430f39153e2c");
    assertMatch(d.task, new RegExp(`^${array}_[01]$`));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
