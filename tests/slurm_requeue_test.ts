/**
 * Requeue of a Slurm array task, against a real single-machine cluster
 * (tests/harness/slurm.ts): the task names its job in its sweep claims, and the attempt that
 * Slurm's signal cuts (its command dies of the same signal) goes back to todo without being
 * charged against `maxRestarts`.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { decodeRec } from "../src/sweep/_format.ts";
import { assert, assertEquals, assertStringIncludes, waitFor } from "./assert.ts";
import { type SlurmCluster, slurmTest, startSlurmCluster } from "./harness/slurm.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const CUT = resolve(import.meta.dirname!, "slurm_fixtures/cut.ts");
const ENDING = resolve(import.meta.dirname!, "slurm_fixtures/ending.ts");
const LONG = { deadline: 240_000, every: 100 };
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED"]);

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

async function text(path: string): Promise<string> {
  return await Deno.readTextFile(path).catch(() => "");
}

async function stateOf(sc: SlurmCluster, id: string): Promise<string | undefined> {
  const r = await sc.client("squeue", ["-h", "-r", "-t", "all", "-j", id, "-o", "%T"]);
  return r.code === 0 ? r.stdout.trim() || undefined : undefined;
}

slurmTest(
  "a requeued task's cut attempt is not charged, and its claims name the array task",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 2 });
    const dir = await Deno.makeTempDir({ prefix: "dexp-requeue-" });
    await Deno.chmod(dir, 0o755);
    try {
      const results = join(dir, "results");
      const env = { ...sc.env, DEXP_T_DIR: dir };
      const sub = await dexp(
        ["run", "--slurm", "--tasks", "1", "--no-check", "-r", results, CUT],
        env,
      );
      assertEquals(sub.code, 0, sub.stderr);
      const [, array, runDir] = /Submitted Slurm array (\d+) \(1 tasks\) for (\S+):/.exec(
        sub.stdout,
      )!;
      const task = `${array}_0`;
      // Combination 0's command runs; from now on a new start of it does not block.
      await waitFor(
        "the long command of combination 0",
        async () => (await text(join(dir, "sleep.pid"))) !== "",
        LONG,
      );
      await Deno.writeTextFile(join(dir, "gate"), "");
      const node = (await sc.client("squeue", ["-h", "-j", task, "-o", "%N"])).stdout.trim();
      // Slurm signals every process of the task: dexp, and the command, which dies of it.
      const rq = await sc.client("scontrol", ["requeue", task]);
      assertEquals(rq.code, 0, rq.out);
      await waitFor(
        "the requeued task to wait for its start",
        async () => (await stateOf(sc, task)) === "PENDING",
        LONG,
      );
      // Slurm holds a requeued job back for two minutes (BeginTime): start it now, elsewhere
      // (asked again until it starts: an update made while the requeue settles may not stick).
      await waitFor("the requeued task to start again", async () => {
        await sc.client("scontrol", [
          "update",
          `JobId=${task}`,
          "StartTime=now",
          `ExcNodeList=${node}`,
        ]);
        const s = await stateOf(sc, task);
        return s !== undefined && s !== "PENDING";
      }, { ...LONG, every: 500 });
      await waitFor("the task to end", async () => {
        const s = await stateOf(sc, task);
        return s !== undefined && FINAL.has(s) &&
          (await text(join(dir, "started.txt"))).split("\n").filter((l) => l).length >= 4;
      }, LONG);
      const log = await text(join(runDir, `.slurm-${task}.out`));
      assertEquals(await stateOf(sc, task), "COMPLETED", log);
      // Combination 0 started twice, by two instances (processes) of the same task.
      const starts = (await text(join(dir, "started.txt"))).split("\n").filter((l) => l)
        .map((l) => l.split(" "));
      const of0 = starts.filter((s) => s[0] === "0");
      assertEquals(of0.length, 2, JSON.stringify(starts));
      assert(of0.every((s) => s[1] === task) && of0[0][2] !== of0[1][2], JSON.stringify(of0));
      // Its cut attempt was given back, not failed: the one counted attempt succeeded.
      const rec = JSON.parse(await Deno.readTextFile(join(runDir, "i=0", "result.json")));
      assertEquals([rec.outcome, rec.attempts], ["ok", 1], JSON.stringify(rec));
      const recs = (await text(join(runDir, ".sweep", "journal"))).split("\n").map((l) =>
        decodeRec(l)
      ).filter((r) => r !== undefined && r !== null);
      assertEquals(recs.filter((r) => r.op === "F" || r.op === "S").length, 0, log);
      assertEquals(recs.filter((r) => r.op === "D").length, 3);
      // Every claim names the array task as its job.
      const owners = recs.filter((r) => r.op === "C").map((r) => (r as { owner: string }).owner);
      assert(owners.length >= 4, JSON.stringify(owners));
      for (const o of owners) assertEquals(o.split("|")[5], task, o);
      const st = await dexp(["status", results], env);
      assertEquals(st.code, 0, st.stderr);
      assertStringIncludes(st.stdout, "finished");
    } finally {
      if (!Deno.env.get("DEXP_TEST_KEEP")) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
);

slurmTest(
  "a command that dies while Slurm ends the task, before the task is signalled, is not charged",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 1 });
    const dir = await Deno.makeTempDir({ prefix: "dexp-requeue-" });
    await Deno.chmod(dir, 0o755);
    try {
      const results = join(dir, "results");
      const env = { ...sc.env, DEXP_T_DIR: dir };
      const sub = await dexp(
        ["run", "--slurm", "--tasks", "1", "--no-check", "-r", results, CUT],
        env,
      );
      assertEquals(sub.code, 0, sub.stderr);
      const [, array, runDir] = /Submitted Slurm array (\d+) \(1 tasks\) for (\S+):/.exec(
        sub.stdout,
      )!;
      const task = `${array}_0`;
      await waitFor(
        "the long command of combination 0",
        async () => (await text(join(dir, "sleep.pid"))) !== "",
        LONG,
      );
      await Deno.writeTextFile(join(dir, "gate"), "");
      const sleepPid = Number((await text(join(dir, "sleep.pid"))).trim());
      const taskPid = Number((await text(join(dir, "started.txt"))).trim().split(" ")[2]);
      // The order that loses the race, made certain: Slurm has marked the job (suspended: no
      // longer RUNNING, every process stopped), the command dies, and the task goes on
      // before any signal of Slurm reaches it.
      const su = await sc.client("scontrol", ["suspend", task]);
      assertEquals(su.code, 0, su.out);
      await waitFor("the task to be suspended", async () => {
        const st = await Deno.readTextFile(`/proc/${taskPid}/stat`).catch(() => "");
        return / T /.test(st) && (await stateOf(sc, task)) === "SUSPENDED";
      }, LONG);
      Deno.kill(sleepPid, "SIGKILL");
      Deno.kill(taskPid, "SIGCONT");
      // The cut combination goes back to todo and the task, not signalled, runs it again.
      await waitFor(
        "combination 0 to start again (or to be recorded failed)",
        async () =>
          (await text(join(dir, "started.txt"))).split("\n").filter((l) => l.startsWith("0 "))
              .length >= 2 || (await text(join(runDir, "i=0", "result.json"))) !== "",
        LONG,
      );
      // Resume it (unless the task, running on, has already finished every combination).
      const re = await sc.client("scontrol", ["resume", task]);
      assert(re.code === 0 || /already completing or completed/.test(re.out), re.out);
      await waitFor("the task to end", async () => {
        const s = await stateOf(sc, task);
        return s !== undefined && FINAL.has(s);
      }, LONG);
      const log = await text(join(runDir, `.slurm-${task}.out`));
      const rec = JSON.parse(await Deno.readTextFile(join(runDir, "i=0", "result.json")));
      assertEquals([rec.outcome, rec.attempts], ["ok", 1], JSON.stringify(rec) + log);
      const recs = (await text(join(runDir, ".sweep", "journal"))).split("\n").map((l) =>
        decodeRec(l)
      ).filter((r) => r !== undefined && r !== null);
      assertEquals(recs.filter((r) => r.op === "F" || r.op === "S").length, 0, log);
      assert(recs.some((r) => r.op === "X"), log);
      assertEquals(recs.filter((r) => r.op === "D").length, 3, log);
    } finally {
      if (!Deno.env.get("DEXP_TEST_KEEP")) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  },
);

slurmTest("a task sees its job being ended before its own signal handler says so", async () => {
  await using sc = await startSlurmCluster({ nodes: 1 });
  const dir = await Deno.makeTempDir({ prefix: "dexp-ending-" });
  await Deno.chmod(dir, 0o755);
  try {
    const out = join(dir, "out.txt");
    const ready = join(dir, "ready");
    const sb = await sc.client("sbatch", [
      "--parsable",
      `--output=${out}`,
      "--wrap",
      `exec env DEXP_SLURM_RUN_DIR=${dir} ${Deno.execPath()} run -A ${ENDING} ${ready}`,
    ]);
    assertEquals(sb.code, 0, sb.out);
    const job = sb.stdout.trim();
    await waitFor("the batch program to be ready", async () => {
      try {
        await Deno.lstat(ready);
        return true;
      } catch {
        return false;
      }
    }, LONG);
    const ca = await sc.client("scancel", [job]);
    assertEquals(ca.code, 0, ca.out);
    const said = await waitFor(
      "the batch program's answer to the signal",
      async () => (await text(out)).includes("signalled:") && text(out),
      LONG,
    );
    assertStringIncludes(said, "running: false");
    assertStringIncludes(said, "signalled: true");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
