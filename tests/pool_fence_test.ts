/**
 * The dispatcher against a start that is still on its way: a dispatcher killed while starting
 * a job leaves the attempt recorded without a reference, and its ssh (which outlives it) can
 * still deliver the start after the next dispatcher looked for the job and found none. The
 * test holds such a start back on the host (its boot-id read blocks on a FIFO) while a new
 * dispatcher settles the attempt; the start, let go afterwards, must find its name fenced off
 * and run nothing, so the job runs exactly once.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  readLines as lines,
  tempDir,
  waitFor,
} from "./assert.ts";
import { homeOf, hostSpec, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { Host } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { listJobs } from "../src/jobs/mod.ts";
import { jobName, serve } from "../src/pool/dispatcher.ts";
import { TestStore } from "./pool_test_store.ts";
import { bootId, makeFifo, releaseFifo } from "./harness/fifo.ts";

const spec = (tb: Testbed) => hostSpec(tb, 0);

/**
 * One host; a pool store with machine m1 (one slot, ready); a jobs root of the test's own on
 * the host (`root`, at `abs` here) and an output folder every user can write. All removed on
 * dispose.
 */
async function fenceBed() {
  const tb = await startTestbed({ hosts: 1 });
  const pool = await tempDir("dexp-pool-fence-");
  const rootName = `.dexp-pool-fence-${crypto.randomUUID().slice(0, 8)}`;
  const abs = `${await homeOf(USERS.dash)}/${rootName}`;
  const out = await Deno.makeTempDir({ prefix: "dexp-pool-fence-out-" });
  await Deno.chmod(out, 0o777);
  const store = new TestStore(pool.path);
  await store.addMachines({ name: "m1", host: spec(tb), slots: ["0"], state: "ready" });
  return {
    tb,
    store,
    dir: pool.path,
    root: `~/${rootName}`,
    abs,
    out,
    async [Symbol.asyncDispose]() {
      await new Hosts([new Host(spec(tb))]).close();
      await Deno.remove(abs, { recursive: true }).catch(() => {});
      await Deno.remove(out, { recursive: true }).catch(() => {});
      await pool[Symbol.asyncDispose]();
      await tb[Symbol.asyncDispose]();
    },
  };
}

sshTest(
  "dispatch: a start still on its way when the next dispatcher settles its attempt is fenced off; the job runs once",
  async () => {
    await using b = await fenceBed();
    const { tb, store, root, out } = b;
    const command = `echo {job} >> ${out}/runs; echo out-{job}`;
    await store.addJobs({ id: "f1", command, attempts: 1 });
    // What a dispatcher killed mid-start leaves: the attempt, under its name, no reference.
    const name = jobName("test", { id: "f1" }, 1);
    assert(await store.attemptStarting("f1", "m1", "0", name));
    // ... and its start, still on its way: held on the host until the FIFO is written.
    const fifo = `${out}/boot_id`;
    await makeFifo(fifo);
    // (In a process of its own, as the killed dispatcher's ssh was: its own connection.)
    const program = `${out}/held.ts`;
    await Deno.writeTextFile(
      program,
      `import { detach } from ${
        JSON.stringify(new URL("../src/jobs/mod.ts", import.meta.url).href)
      };
import { Host } from ${JSON.stringify(new URL("../src/ssh/mod.ts", import.meta.url).href)};
import { Hosts } from ${JSON.stringify(new URL("../src/action/mod.ts", import.meta.url).href)};
const nodes = new Hosts([new Host(${JSON.stringify(spec(tb))})]);
const g = await detach(nodes.run(${
        JSON.stringify(command.replaceAll("{job}", "f1"))
      }).noThrow().quiet(), ${JSON.stringify({ name, root, unique: true, bootIdFile: fifo })});
console.log(JSON.stringify({ started: g.jobs.length, reasons: g.failed.map((f) => f.reason) }));
await nodes.close();
`,
    );
    const held = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", program],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();

    const events: string[] = [];
    await serve(store, {
      dir: b.dir,
      jobsRoot: root,
      poll: 100,
      until: "idle",
      onEvent: (l) => events.push(l),
    });
    const job = (await store.state()).jobs[0];
    assertEquals(job.state, "done", events.join("\n"));
    assertEquals(job.tries.length, 2, events.join("\n"));
    assertEquals(job.tries[0].outcome?.reason, "the dispatcher stopped before the job started");
    assertEquals(job.tries[1].outcome?.kind, "ok");
    assertEquals(job.ends, 2);
    assertEquals(await lines(`${out}/runs`), ["f1"]);

    // Let the held start go on (writing blocks until it opens the FIFO: it did get there).
    await releaseFifo(fifo, await bootId());
    const h = await held;
    const dec = new TextDecoder();
    assertEquals(h.code, 0, dec.decode(h.stderr));
    const late = JSON.parse(dec.decode(h.stdout));
    assertEquals(late.started, 0);
    assertMatch(late.reasons[0] ?? "", /its name is taken/);
    // It ran nothing, and left no job of that name.
    assertEquals(await lines(`${out}/runs`), ["f1"]);
    assertEquals((await listJobs([new Host(spec(tb))], { root, name })).length, 0);
  },
);

sshTest(
  "dispatch: a start the host says ran nothing (no jobs folder) is not settled: the machine is quarantined, the job waits",
  async () => {
    await using b = await fenceBed();
    const { store } = b;
    // The jobs root is a file on the host: every start fails before running anything.
    await Deno.writeTextFile(b.abs, "not a folder");
    await store.addJobs({ id: "f1", command: "true" });
    const stop = new AbortController();
    const served = serve(store, {
      dir: b.dir,
      jobsRoot: b.root,
      poll: 100,
      until: "idle",
      signal: stop.signal,
    });
    // A safety net only: a dispatcher settling such a start would never become idle.
    const timer = setTimeout(() => stop.abort(), 120_000);
    await served.finally(() => clearTimeout(timer));
    assert(!stop.signal.aborted, "the dispatcher did not become idle");
    const st = await store.state();
    const m = st.machines[0] as { state: string; reason?: string };
    assertEquals(m.state, "quarantined");
    assertMatch(m.reason ?? "", /cannot create the jobs folder/);
    assertEquals(st.jobs[0].state, "waiting");
    assertEquals(st.jobs[0].tries.length, 3);
  },
);

sshTest(
  "dispatch: an attempt whose host cannot be asked stays open (the job may run there) until the host answers",
  async () => {
    await using b = await fenceBed();
    const { tb, store, out } = b;
    await store.addJobs({ id: "f1", command: `echo {job} >> ${out}/runs` });
    assert(await store.attemptStarting("f1", "m1", "0", jobName("test", { id: "f1" }, 1)));
    await tb.stopDaemon(0);
    const events: string[] = [];
    const stop = new AbortController();
    const served = serve(store, {
      dir: b.dir,
      jobsRoot: b.root,
      poll: 100,
      until: "stopped",
      signal: stop.signal,
      onEvent: (l) => events.push(l),
    });
    try {
      await waitFor(
        "the dispatcher to say it cannot settle",
        () => events.some((l) => l.startsWith("f1: cannot settle its start yet")),
      );
      const open = (await store.state()).jobs[0];
      assertEquals([open.state, open.tries.length, open.tries[0].end], ["running", 1, null]);
      // The host is back: the name is fenced off, the job waits again and runs once.
      await tb.startDaemon(0);
      await waitFor(
        "the job to be done",
        async () => (await store.state()).jobs[0].state === "done",
      );
    } finally {
      stop.abort();
      await served;
    }
    const job = (await store.state()).jobs[0];
    assertEquals(job.tries[0].outcome?.reason, "the dispatcher stopped before the job started");
    assertEquals(await lines(`${out}/runs`), ["f1"]);
  },
);
