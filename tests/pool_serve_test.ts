/**
 * `dexp pool serve` over a real pool directory (the pool's own store) and real sshd hosts:
 * two classes, a setup, a matrix with results copied back, slot variables; a second
 * dispatcher refused by the CLI with the first one's pid; jobs added, held, unheld and
 * canceled while it runs (a canceled running job is killed on its host); `dexp job log`.
 */
import { assert, assertEquals, assertMatch, tempDir, waitFor } from "./assert.ts";
import { homeOf, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { resolve } from "node:path";
import { Host, type HostSpec } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { dispatchStoreOf, initPool, openPool } from "../src/pool/mod.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");

function spec(tb: Testbed, i: number): HostSpec {
  const h = tb.hosts[i];
  return {
    address: h.address,
    port: h.port,
    name: h.name,
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
}

async function dexp(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

/** Removes the detached jobs of a pool's attempts from the hosts (they live in ~/.dexp/jobs). */
async function forgetAll(pdir: string): Promise<void> {
  await using pool = await openPool(pdir);
  const refs = (await pool.jobs()).flatMap((j) => j.attempts.map((a) => a.ref)).filter((r) =>
    r !== null
  );
  const { attachJobs } = await import("../src/jobs/mod.ts");
  if (refs.length) await attachJobs(refs).forget().catch(() => {});
}

sshTest(
  "pool serve: classes, setup, matrix copied back; refused twice; add/hold/cancel while it runs; job log",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = {
      [Symbol.asyncDispose]: () =>
        new Hosts([new Host(spec(tb, 0)), new Host(spec(tb, 1))]).close(),
    };
    await using dir = await tempDir("dexp-pool-serve-");
    await using results = await tempDir("dexp-pool-serve-results-");
    const tag = crypto.randomUUID().slice(0, 8);
    const home = await homeOf(USERS.dash);
    const work = `pool-serve-${tag}`;
    const pdir = `${dir.path}/pool`;
    {
      await using pool = await initPool(pdir, {
        vars: { work },
        classes: [
          {
            name: "cpu",
            slots: 2,
            setup: ["mkdir -p {work} && echo {host} {class} > {work}/setup-{host}"],
          },
          { name: "gpu", slots: ["g0", "g1"], env: { CUDA_VISIBLE_DEVICES: "{slot}" } },
        ],
      });
      await pool.addMachines("cpu", [spec(tb, 0)]);
      await pool.addMachines("gpu", [spec(tb, 1)]);
      await pool.matrix({
        class: "cpu",
        command:
          "while [ ! -e {work}/go ]; do sleep 0.1; done; mkdir -p {work}/r{job} && echo {K} {J} > {work}/r{job}/v.txt && echo RESULTS: {work}/r{job}",
        matrix: { K: ["a", "b", "c"], J: ["1", "2", "3"] },
        results: results.path,
      });
      await pool.submit({ class: "gpu", command: "echo gpu=$CUDA_VISIBLE_DEVICES slot={slot}" });
      // A declared output (no RESULTS: line), with placeholders, copied back after the job.
      await pool.submit({
        class: "gpu",
        command: "mkdir -p {work} && echo out-{job}-{slot} > {work}/o{job}.txt",
        outputs: ["{work}/o{job}.txt"],
        results: results.path,
      });
    }
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "pool", "serve", pdir, "--poll", "100"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const serverOut = server.output();
    try {
      await using pool = await openPool(pdir);
      await waitFor("two cpu jobs running", async () => {
        await pool.refresh();
        return (await pool.jobs({ class: "cpu", state: "running" })).filter((j) =>
          j.attempts.at(-1)?.ref
        )
          .length === 2;
      });
      const second = await dexp("pool", "serve", pdir);
      assertEquals(second.code, 1);
      assertMatch(
        second.err,
        new RegExp(`already served by a dispatcher: pid ${server.pid} on host`),
      );

      // While it runs: a long job, canceled once running; a held job, unheld later.
      // Both gpu slots busy with long jobs, then a job held before a slot frees.
      const [long, long2] = await pool.submit({
        class: "gpu",
        command: `sleep 300 # ${tag}`,
        repeat: 2,
      });
      await waitFor("the long jobs running", async () => {
        await pool.refresh();
        return (await pool.jobs({ ids: [long.id, long2.id] })).every((j) =>
          j.attempts.at(-1)?.ref != null
        );
      });
      const [held] = await pool.submit({ class: "gpu", command: "echo held-ran" });
      await pool.hold([held.id]);
      const c = await dexp("job", "cancel", String(long.id), String(long2.id), "--pool", pdir);
      assertEquals(c.code, 0, c.err);
      await waitFor("the long jobs' attempts ended", async () => {
        await pool.refresh();
        return (await pool.jobs({ ids: [long.id, long2.id] })).every((j) =>
          j.attempts.at(-1)!.end !== null
        );
      });
      const ps = await new Deno.Command("pgrep", { args: ["-f", `sleep 300 # ${tag}`] }).output();
      assertEquals(new TextDecoder().decode(ps.stdout).trim(), "", "the canceled job is gone");
      assertEquals((await pool.job(held.id))!.state, "held");
      await pool.unhold([held.id]);
      await Deno.writeTextFile(`${home}/${work}/go`, "");
      await waitFor("every job ended", async () => {
        await pool.refresh();
        return (await pool.jobs()).every((j) =>
          ["done", "failed", "canceled", "lost"].includes(j.state)
        );
      });
      const jobs = await pool.jobs();
      assertEquals(jobs.map((j) => j.state), [
        ...Array(11).fill("done"),
        "canceled",
        "canceled",
        "done",
      ]);
      assertEquals(await Deno.readTextFile(`${home}/${work}/setup-h1`), "h1 cpu\n");
      for (const j of jobs.filter((x) => x.class === "cpu")) {
        assertEquals(
          await Deno.readTextFile(`${results.path}/${j.id}/r${j.id}/v.txt`),
          `${j.vars.K} ${j.vars.J}\n`,
        );
        assertEquals(j.attempts.length, 1);
      }
      assertMatch(await Deno.readTextFile(`${results.path}/11/o11.txt`), /^out-11-g[01]\n$/);
      const stat = await dexp("job", "stat", "--csv", "--pool", pdir);
      assertEquals(stat.code, 0, stat.err);
      assertMatch(stat.out, /K/);
      const log = await dexp("job", "log", "10", "--pool", pdir);
      assertEquals(log.code, 0, log.err);
      assertMatch(log.out, /^gpu=g[01] slot=g[01]\n$/);
      const [, s1, s2] = log.out.match(/gpu=(\S+) slot=(\S+)/)!;
      assertEquals(s1, s2);
    } finally {
      server.kill("SIGTERM");
      const o = await serverOut;
      const text = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
      if (Deno.env.get("DEXP_TEST_VERBOSE")) console.log(text);
      // dexp's signal handling ends the program with 128 + 15; the detached jobs run on.
      assert([0, 143].includes(o.code), `the dispatcher stops on SIGTERM: ${o.code} ${text}`);
      await forgetAll(pdir).catch(() => {});
      await Deno.remove(`${home}/${work}`, { recursive: true }).catch(() => {});
    }
  },
);

sshTest(
  "pool serve over the pool's store: SIGKILLed and restarted, every job ends once; a start cut before its ref was recorded is found by name or run again",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using _c = { [Symbol.asyncDispose]: () => new Hosts([new Host(spec(tb, 0))]).close() };
    await using dir = await tempDir("dexp-pool-serve-");
    const out = await Deno.makeTempDir({ prefix: "dexp-pool-serve-out-" });
    await Deno.chmod(out, 0o777);
    const pdir = `${dir.path}/pool`;
    try {
      {
        await using pool = await initPool(pdir, {
          vars: { out },
          classes: [{ name: "c", slots: 3 }],
        });
        await pool.addMachines("c", [spec(tb, 0)]);
        await pool.setupStarted("h1", { fingerprint: "" });
        await pool.setupSucceeded("h1", { fingerprint: "" });
        for (let i = 0; i < 6; i++) {
          await pool.submit({
            class: "c",
            command:
              "echo {job} >> {out}/runs; while [ ! -e {out}/go-{job} ]; do sleep 0.1; done; echo out-{job}",
          });
        }
        // Two starts cut by a crash: claimed, no reference recorded. Job 1's detached job did
        // start on the host (under the name the dispatcher gives it); job 2's never did.
        await pool.claim(1, { machine: "h1", slot: "0" });
        await pool.claim(2, { machine: "h1", slot: "1" });
        // The pool's tag (made by the dispatcher's first look) is part of the job names.
        const tag = (await dispatchStoreOf(pool).read()).tag!;
        const { detach } = await import("../src/jobs/mod.ts");
        const { hosts } = await import("../src/action/mod.ts");
        const g = await detach(
          hosts([spec(tb, 0)]).run(
            `echo 1 >> ${out}/runs; while [ ! -e ${out}/go-1 ]; do sleep 0.1; done; echo out-1`,
          )
            .quiet(),
          { name: `pool-${tag}-1-1` },
        );
        void g;
      }
      const start = () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, "pool", "serve", pdir, "--poll", "100", "--idle", "-q"],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
      const first = start();
      const firstOut = first.output();
      await using pool = await openPool(pdir);
      const running = async () => {
        await pool.refresh();
        return (await pool.jobs({ state: "running" })).filter((j) => j.attempts.at(-1)?.ref);
      };
      try {
        await waitFor("three running jobs with refs", async () => (await running()).length === 3);
      } finally {
        first.kill("SIGKILL");
        await firstOut;
      }
      const before = await running();
      assert(before.some((j) => j.id === 1), "job 1 was found on its host by name");
      // One of them ends while no dispatcher runs.
      await Deno.writeTextFile(`${out}/go-${before[0].id}`, "");
      const j0 =
        (await import("../src/jobs/mod.ts")).attachJobs(before[0].attempts.at(-1)!.ref!).jobs[0];
      await waitFor("it ended on its host", async () => (await j0.status()).state === "exited");
      for (let id = 1; id <= 6; id++) await Deno.writeTextFile(`${out}/go-${id}`, "");
      const second = await start().output();
      assertEquals(second.code, 0, new TextDecoder().decode(second.stderr));
      await pool.refresh();
      const jobs = await pool.jobs();
      assertEquals(jobs.map((j) => j.state), Array(6).fill("done"));
      assertEquals((await Deno.readTextFile(`${out}/runs`)).trim().split("\n").sort(), [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
      ]);
      // Job 2's cut start counts as an infrastructure failure, then it ran; the others ran once.
      assertEquals(jobs.map((j) => j.attempts.length), [1, 2, 1, 1, 1, 1]);
      assert(jobs[1].attempts[0].infrastructure);
      for (const j of jobs) {
        const log = await dexp("job", "log", String(j.id), "--pool", pdir);
        assertEquals(log.out, `out-${j.id}\n`);
      }
    } finally {
      await forgetAll(pdir).catch(() => {});
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);

sshTest(
  "pool serve: a restarted dispatcher never adopts another pool's job of the same id on the host",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using _c = { [Symbol.asyncDispose]: () => new Hosts([new Host(spec(tb, 0))]).close() };
    await using dir = await tempDir("dexp-pool-serve-");
    const out = await Deno.makeTempDir({ prefix: "dexp-pool-serve-out-" });
    await Deno.chmod(out, 0o777);
    const make = async (name: string) => {
      const pool = await initPool(`${dir.path}/${name}`, {
        vars: { out, p: name },
        classes: [{ name: "c", slots: 1 }],
      });
      await pool.addMachines("c", [spec(tb, 0)]);
      await pool.submit({
        class: "c",
        command: "echo {p}{job} >> {out}/runs; while [ ! -e {out}/go-{p} ]; do sleep 0.1; done",
      });
      return pool;
    };
    await using a = await make("A");
    await using b = await make("B");
    try {
      // Pool A's job 1 runs on the host (its dispatcher stopped, the job runs on).
      const stopA = new AbortController();
      const servedA = a.serve({ signal: stopA.signal, poll: 100 });
      await waitFor("A's job 1 running", async () => {
        await a.refresh();
        return (await a.job(1))!.attempts.at(-1)?.ref != null;
      });
      stopA.abort();
      await servedA;
      // Pool B's job 1 was claimed by a dispatcher that died before starting it.
      await b.setupStarted("h1", { fingerprint: "" });
      await b.setupSucceeded("h1", { fingerprint: "" });
      await b.claim(1, { machine: "h1", slot: "0" });
      await Deno.writeTextFile(`${out}/go-B`, "");
      await b.serve({ until: "idle", poll: 100 });
      const jb = (await b.job(1))!;
      assertEquals(jb.state, "done");
      assertEquals(jb.attempts.length, 2, "the cut start, then a run of its own");
      assertEquals((await Deno.readTextFile(`${out}/runs`)).trim().split("\n").sort(), [
        "A1",
        "B1",
      ]);
      await a.refresh();
      assertEquals((await a.job(1))!.state, "running", "A's job is still A's");
      await Deno.writeTextFile(`${out}/go-A`, "");
      await a.serve({ until: "idle", poll: 100 });
      assertEquals((await a.job(1))!.state, "done");
    } finally {
      await forgetAll(`${dir.path}/A`).catch(() => {});
      await forgetAll(`${dir.path}/B`).catch(() => {});
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
