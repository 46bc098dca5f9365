/**
 * The pool dispatcher against real sshd hosts: slots never oversubscribed (checked with what
 * each job recorded on its host), queue order per class, slot values in the command, prefix and
 * environment; setups; retries and quarantine; results copied back with a failed copy retried;
 * a dispatcher SIGKILLed mid-run and started again ends every job exactly once with its output;
 * a second dispatcher is refused.
 */
import { assert, assertEquals, assertMatch, assertRejects, tempDir, waitFor } from "./assert.ts";
import { homeOf, hostSpec, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { Host, type HostSpec } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { attachJobs } from "../src/jobs/mod.ts";
import { serve, type ServeOptions } from "../src/pool/dispatcher.ts";
import { DispatcherBusyError } from "../src/pool/dispatch_lock.ts";
import { TestStore } from "./pool_test_store.ts";

const spec = (tb: Testbed, i: number, user: string = USERS.dash): HostSpec => hostSpec(tb, i, user);

/** A folder every test user can write (the jobs write their records there). */
async function shared(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "dexp-pool-shared-" });
  await Deno.chmod(d, 0o777);
  return d;
}

/** A jobs root of its own under both users' homes, removed at the end. */
function jobsRoot(): { root: string; [Symbol.asyncDispose](): Promise<void> } {
  const name = `.dexp-pool-test-${crypto.randomUUID().slice(0, 8)}`;
  return {
    root: `~/${name}`,
    async [Symbol.asyncDispose]() {
      for (const u of [USERS.dash, USERS.bash]) {
        await Deno.remove(`${await homeOf(u)}/${name}`, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** Closes this process's connections to the testbed's hosts (both users) at the end of a block. */
function closing(tb: Testbed): AsyncDisposable {
  const all = tb.hosts.flatMap((_, i) =>
    [USERS.dash, USERS.bash].map((u) => new Host(spec(tb, i, u)))
  );
  return { [Symbol.asyncDispose]: () => new Hosts(all).close() };
}

function options(dir: string, root: string, more: Partial<ServeOptions> = {}): ServeOptions {
  return { dir, jobsRoot: root, poll: 100, until: "idle", stagger: 50, ...more };
}

sshTest(
  "dispatch: slots never oversubscribed, queue order kept, {slot} in command, prefix and env",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = closing(tb);
    await using pool = await tempDir("dexp-pool-");
    await using jr = jobsRoot();
    const out = await shared();
    try {
      const store = new TestStore(pool.path);
      await store.addMachines(
        {
          name: "m1",
          host: spec(tb, 0),
          slots: ["0", "1"],
          slotEnv: { CUDA_VISIBLE_DEVICES: "{slot}" },
          prefix: "env PFX=p{slot}",
          setup: ["echo set up {host} {class}"],
        },
        {
          name: "m2",
          host: spec(tb, 1, USERS.bash),
          slots: ["a", "b"],
          slotEnv: { CUDA_VISIBLE_DEVICES: "{slot}" },
          prefix: "env PFX=p{slot}",
        },
      );
      const ids = Array.from({ length: 10 }, (_, i) => `j${String(i).padStart(2, "0")}`);
      await store.addJobs(...ids.map((id) => ({
        id,
        command:
          `echo "S {job} {host} {slot} $CUDA_VISIBLE_DEVICES $PFX $(date +%s%N)" >> ${out}/log-{host}; sleep 0.4; echo "E {job} {host} {slot} $(date +%s%N)" >> ${out}/log-{host}`,
      })));
      await serve(store, options(pool.path, jr.root));

      const st = await store.state();
      assertEquals(
        st.jobs.map((j) => `${j.state} ${j.tries.map((t) => t.outcome?.reason ?? "-")}`),
        ids.map(() => "done -"),
      );
      assertEquals(st.machines.map((m) => m.state), ["ready", "ready"]);
      // Queue order: the attempts were recorded in queue order.
      const order = [...st.jobs].sort((a, b) => a.startSeq[0] - b.startSeq[0]).map((j) => j.id);
      assertEquals(order, ids);

      // What the jobs recorded on the hosts: every job once, slot values everywhere.
      const lines =
        (await Deno.readTextFile(`${out}/log-h1`) + await Deno.readTextFile(`${out}/log-h2`)).trim()
          .split("\n").map((l) => l.split(" "));
      const starts = lines.filter((l) => l[0] === "S");
      const ends = lines.filter((l) => l[0] === "E");
      assertEquals(starts.map((l) => l[1]).sort(), ids);
      assertEquals(ends.map((l) => l[1]).sort(), ids);
      for (const [, job, host, slot, cuda, pfx] of starts) {
        assertEquals(cuda, slot, `${job}: CUDA_VISIBLE_DEVICES`);
        assertEquals(pfx, `p${slot}`, `${job}: the prefix`);
        const m = st.jobs.find((j) => j.id === job)!.tries[0];
        assertEquals([m.machine === "m1" ? "h1" : "h2", m.slot], [host, slot]);
      }
      // Never two jobs on one slot, never more jobs on a host than it has slots.
      const iv = starts.map(([, job, host, slot, , , t]) => ({
        job,
        host,
        slot,
        s: BigInt(t),
        e: BigInt(ends.find((l) => l[1] === job)![4]),
      }));
      for (const a of iv) {
        const overlapping = iv.filter((b) => b.host === a.host && b.s <= a.s && b.e > a.s);
        assert(
          overlapping.length <= 2,
          `${a.job}: ${overlapping.length} jobs at once on ${a.host}`,
        );
        assertEquals(
          overlapping.filter((b) => b.slot === a.slot).length,
          1,
          `${a.job}: slot shared`,
        );
      }
      // Both machines were used.
      assertEquals(new Set(iv.map((x) => x.host)).size, 2);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);

sshTest(
  "dispatch: a failed setup keeps its machine out; retries; an unreachable machine is quarantined and its jobs run elsewhere",
  async () => {
    await using tb = await startTestbed({ hosts: 3 });
    await using _c = closing(tb);
    await using pool = await tempDir("dexp-pool-");
    await using jr = jobsRoot();
    const out = await shared();
    try {
      await tb.stopDaemon(tb.hosts[2].daemon);
      const store = new TestStore(pool.path);
      await store.addMachines(
        { name: "good", host: spec(tb, 0), slots: ["0"] },
        { name: "down", host: spec(tb, 2), slots: ["0"] },
        { name: "nosetup", host: spec(tb, 1), class: "d", setup: ["echo trying", "exit 4"] },
      );
      await store.addJobs(
        {
          id: "flaky",
          attempts: 2,
          command: `test -e ${out}/flaky || { touch ${out}/flaky; exit 3; }`,
        },
        { id: "bad", attempts: 2, command: `echo x >> ${out}/bad; exit 5` },
        ...["a", "b", "c", "e"].map((id) => ({ id, command: `echo ${id} >> ${out}/ran` })),
        { id: "d1", class: "d", command: "true" },
      );
      await serve(store, options(pool.path, jr.root, { quarantineAfter: 2 }));
      const st = await store.state();
      const job = (id: string) => st.jobs.find((j) => j.id === id)!;
      const machine = (n: string) =>
        st.machines.find((m) => m.name === n)! as { reason?: string; state: string };

      assertEquals(machine("nosetup").state, "failed");
      assertMatch(machine("nosetup").reason!, /\[2\/2\] failed with exit code 4/);
      assertEquals(job("d1").state, "waiting");
      assert((await Array.fromAsync(Deno.readDir(`${pool.path}/setup-logs/nosetup`))).length === 1);

      assertEquals(machine("down").state, "quarantined");
      assertMatch(machine("down").reason!, /could not start on down/);

      assertEquals(job("flaky").state, "done");
      assertEquals(
        job("flaky").tries.filter((t) => t.outcome!.kind !== "infra").map((t) => t.outcome!.kind),
        ["exit", "ok"],
      );
      assertEquals(job("bad").state, "failed");
      assertEquals(
        (await Deno.readTextFile(`${out}/bad`)).split("\n").length - 1,
        2,
        "bad ran twice",
      );
      for (const id of ["a", "b", "c", "e"]) assertEquals(job(id).state, "done");
      assertEquals((await Deno.readTextFile(`${out}/ran`)).trim().split("\n").sort(), [
        "a",
        "b",
        "c",
        "e",
      ]);
      // The infrastructure failures did not use up attempts of the jobs that hit the dead host.
      assert(st.jobs.some((j) => j.tries.some((t) => t.outcome?.kind === "infra")));
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);

sshTest(
  "dispatch: results copied back after the job, a failed copy retried without rerunning the job",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using _c = closing(tb);
    await using pool = await tempDir("dexp-pool-");
    await using results = await tempDir("dexp-pool-results-");
    await using jr = jobsRoot();
    const home = await homeOf(USERS.dash);
    const tag = crypto.randomUUID().slice(0, 8);
    const f = `${home}/res-${tag}`;
    try {
      const store = new TestStore(pool.path);
      await store.addMachines({ name: "m", host: spec(tb, 0) });
      await store.addJobs({
        id: "r1",
        results: results.path,
        outputs: [`${f}.declared`],
        command:
          `echo run >> ${f}.count; echo data > ${f}; echo decl > ${f}.declared; chmod 000 ${f}; echo RESULTS: ${f}`,
      });
      const stop = new AbortController();
      const served = serve(
        store,
        options(pool.path, jr.root, { until: "stopped", signal: stop.signal }),
      );
      try {
        await waitFor("a failed copy", async () => {
          const j = (await store.state()).jobs[0];
          return j.state === "copying" && j.copyFailures >= 1;
        });
        await Deno.chmod(f, 0o644);
        await waitFor("the job done", async () => (await store.state()).jobs[0].state === "done");
      } finally {
        stop.abort();
        await served;
      }
      assertEquals(await Deno.readTextFile(`${results.path}/r1/res-${tag}`), "data\n");
      assertEquals(await Deno.readTextFile(`${results.path}/r1/res-${tag}.declared`), "decl\n");
      assertEquals(await Deno.readTextFile(`${f}.count`), "run\n", "the job ran once");
      assertEquals((await store.state()).jobs[0].tries.length, 1);
    } finally {
      for (const s of ["", ".count", ".declared"]) await Deno.remove(`${f}${s}`).catch(() => {});
    }
  },
);

sshTest(
  "dispatch: SIGKILLed mid-run and restarted, every job ends exactly once with its output; a second dispatcher is refused",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = closing(tb);
    await using pool = await tempDir("dexp-pool-");
    await using jr = jobsRoot();
    const out = await shared();
    try {
      const store = new TestStore(pool.path);
      await store.addMachines(
        { name: "m1", host: spec(tb, 0), slots: ["0", "1"] },
        { name: "m2", host: spec(tb, 1), slots: ["0", "1"] },
      );
      const ids = Array.from({ length: 8 }, (_, i) => `k${i}`);
      await store.addJobs(...ids.map((id) => ({
        id,
        command:
          `echo {job} >> ${out}/runs; while [ ! -e ${out}/go-{job} ]; do sleep 0.1; done; echo out-{job}`,
      })));
      const program = `${pool.path}/dispatcher.ts`;
      await Deno.writeTextFile(
        program,
        `import { serve } from ${
          JSON.stringify(new URL("../src/pool/dispatcher.ts", import.meta.url).href)
        };
import { TestStore } from ${JSON.stringify(new URL("./pool_test_store.ts", import.meta.url).href)};
await serve(new TestStore(${JSON.stringify(pool.path)}), ${
          JSON.stringify(options(pool.path, jr.root, { until: "stopped" }))
        });
`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", program],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const errText = child.stderr.pipeTo(new WritableStream()).catch(() => {});
      try {
        // Four jobs run (every slot) with their references recorded.
        await waitFor(
          "four running jobs",
          async () =>
            (await store.state()).jobs.filter((j) => j.state === "running" && j.tries.at(-1)?.ref)
              .length === 4,
        );
        // A second dispatcher is refused, naming the first.
        const e = await assertRejects(
          () => serve(store, options(pool.path, jr.root)),
          DispatcherBusyError,
        );
        assertMatch(e.message, new RegExp(`pid ${child.pid} on host`));
        // Let one job finish before the kill and two more while nobody watches.
        await Deno.writeTextFile(`${out}/go-k0`, "");
        await waitFor("k0 done", async () => (await store.state()).jobs[0].state === "done");
        // The kill comes once k4's start on k0's slot is recorded, so that every job ends once
        // and none starts twice. (A kill during a start is tests/pool_fence_test.ts's case:
        // that attempt may end unstarted and the job run under a second one.)
        await waitFor(
          "k4 running on k0's slot, its reference recorded",
          async () =>
            (await store.state()).jobs.filter((j) => j.state === "running" && j.tries.at(-1)?.ref)
              .length === 4,
        );
      } finally {
        child.kill("SIGKILL");
        await child.status;
        await errText;
      }
      const running = (await store.state()).jobs.filter((j) => j.state === "running");
      assert(running.length >= 2, `running at the kill: ${running.map((j) => j.id)}`);
      for (const j of running.slice(0, 2)) await Deno.writeTextFile(`${out}/go-${j.id}`, "");
      for (const j of running.slice(0, 2)) {
        await waitFor(
          `${j.id} ended on its host`,
          async () => (await attachJobs(j.tries.at(-1)!.ref!).jobs[0].status()).state === "exited",
        );
      }
      // Everything else may go now; a new dispatcher takes over.
      for (const id of ids) await Deno.writeTextFile(`${out}/go-${id}`, "");
      await serve(store, options(pool.path, jr.root));

      const st = await store.state();
      assertEquals(st.jobs.map((j) => j.state), ids.map(() => "done"));
      assertEquals(st.jobs.map((j) => j.ends), ids.map(() => 1), "every job ended once");
      assertEquals(st.jobs.map((j) => j.tries.length), ids.map(() => 1), "none started twice");
      assertEquals((await Deno.readTextFile(`${out}/runs`)).trim().split("\n").sort(), ids);
      for (const j of st.jobs) {
        const r = await attachJobs(j.tries[0].ref!).jobs[0].result();
        assertEquals(r.stdout.trim(), `out-${j.id}`);
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);

sshTest(
  "dispatch: a job past its timeout is killed on its host; machines added and removed while it runs take effect",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = closing(tb);
    await using pool = await tempDir("dexp-pool-");
    await using jr = jobsRoot();
    const out = await shared();
    const tag = crypto.randomUUID().slice(0, 8);
    try {
      const store = new TestStore(pool.path);
      await store.addMachines({ name: "m1", host: spec(tb, 0) });
      await store.addJobs(
        { id: "slow", timeout: 800, command: `sleep 60 # ${tag}` },
        ...["a", "b", "c"].map((id) => ({
          id,
          command:
            `while [ ! -e ${out}/go-{job} ]; do sleep 0.1; done; echo {job} {host} >> ${out}/ran-{host}`,
        })),
      );
      const stop = new AbortController();
      const served = serve(
        store,
        options(pool.path, jr.root, { until: "stopped", signal: stop.signal }),
      );
      try {
        await waitFor(
          "the slow job timed out",
          async () => (await store.state()).jobs[0].state === "failed",
        );
        const st = await store.state();
        assertEquals(st.jobs[0].tries[0].outcome!.kind, "timeout");
        const ps = await new Deno.Command("pgrep", { args: ["-f", `sleep 60 # ${tag}`] }).output();
        assertEquals(new TextDecoder().decode(ps.stdout).trim(), "", "nothing of it runs");
        // "a" runs on m1; a second machine joins and takes "b"; m1 is removed, so "c" waits
        // for m2 although m1's slot frees first.
        await waitFor("a running", async () => (await store.state()).jobs[1].tries.at(-1)?.ref);
        await store.addMachines({ name: "m2", host: spec(tb, 1) });
        await waitFor(
          "b running on m2",
          async () => (await store.state()).jobs[2].tries.at(-1)?.ref,
        );
        await store.change((s) => {
          s.machines[0].state = "removed";
        });
        await Deno.writeTextFile(`${out}/go-a`, "");
        await waitFor("a done", async () => (await store.state()).jobs[1].state === "done");
        await Deno.writeTextFile(`${out}/go-b`, "");
        await Deno.writeTextFile(`${out}/go-c`, "");
        await waitFor("c done", async () => (await store.state()).jobs[3].state === "done");
      } finally {
        stop.abort();
        await served;
      }
      const st = await store.state();
      assertEquals(st.jobs.map((j) => j.tries.at(-1)!.machine), ["m1", "m1", "m2", "m2"]);
      assertEquals(await Deno.readTextFile(`${out}/ran-h1`), "a h1\n");
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
