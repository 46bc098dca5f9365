/**
 * `dexp pool serve` over a real pool directory (the pool's own store) and real sshd hosts:
 * two classes, a setup, a matrix with results copied back, slot variables; a second
 * dispatcher refused by the CLI with the first one's pid; jobs added, held, unheld and
 * canceled while it runs (a canceled running job is killed on its host); `dexp job log`.
 */
import { assert, assertEquals, assertMatch, tempDir, waitFor } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { resolve } from "node:path";
import { Host, type HostSpec } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { initPool, openPool } from "../src/pool/mod.ts";

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

async function homeOf(user: string): Promise<string> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((l) => l.startsWith(user + ":"))!;
  return line.split(":")[5];
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
      const [long] = await pool.submit({ class: "gpu", command: `sleep 300 # ${tag}` });
      const [held] = await pool.submit({ class: "gpu", command: "echo held-ran" });
      await pool.hold([held.id]);
      await waitFor("the long job running", async () => {
        await pool.refresh();
        return (await pool.job(long.id))!.attempts.at(-1)?.ref != null;
      });
      const c = await dexp("job", "cancel", String(long.id), "--pool", pdir);
      assertEquals(c.code, 0, c.err);
      await waitFor("the long job's attempt ended", async () => {
        await pool.refresh();
        return (await pool.job(long.id))!.attempts.at(-1)!.end !== null;
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
      assertEquals(jobs.map((j) => j.state), [...Array(10).fill("done"), "canceled", "done"]);
      assertEquals(await Deno.readTextFile(`${home}/${work}/setup-h1`), "h1 cpu\n");
      for (const j of jobs.filter((x) => x.class === "cpu")) {
        assertEquals(
          await Deno.readTextFile(`${results.path}/${j.id}/r${j.id}/v.txt`),
          `${j.vars.K} ${j.vars.J}\n`,
        );
        assertEquals(j.attempts.length, 1);
      }
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
      await Deno.remove(`${home}/${work}`, { recursive: true }).catch(() => {});
    }
  },
);
