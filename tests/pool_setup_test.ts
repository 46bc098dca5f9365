/**
 * The pool's setup runner against real sshd hosts: commands run in order on the machine, a
 * failure names the command and keeps the log, the fingerprint on the machine makes a second
 * run a no-op until the commands change, machines start staggered, a setup past its
 * timeout is killed, and a second start of a running setup takes it back.
 */
import { assert, assertEquals, assertMatch, readLines, tempDir } from "./assert.ts";
import { homeOf, sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { Host } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { attachJobs, listJobs } from "../src/jobs/mod.ts";
import { finishSetup, runSetups, type SetupMachine, startSetup } from "../src/pool/setup_runner.ts";

/** Host i of the testbed; the second logs in as the bash user (its own home, own fingerprints). */
function host(tb: Testbed, i: number): Host {
  const h = tb.hosts[i];
  return new Host({
    address: h.address,
    port: h.port,
    name: h.name,
    user: i === 1 ? USERS.bash : USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

sshTest(
  "setup: runs in order with {host}/{class}/vars, re-runs only when the commands change",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using logs = await tempDir("dexp-pool-setup-");
    const tag = crypto.randomUUID().slice(0, 8);
    const home = await homeOf(USERS.dash);
    const marks = `/tmp/dexp-setup-marks-${tag}`;
    const key = `t-${tag}`;
    const machines = (commands: string[]): SetupMachine[] =>
      [0, 1].map((i) => ({
        name: `m${i}`,
        host: host(tb, i),
        class: "cpu",
        commands,
        vars: { tag },
      }));
    try {
      const cmds = [`echo {host} {class} {tag} >> ${marks}-{host}`, "echo second"];
      const first = await runSetups(machines(cmds), { logDir: logs.path, key, stagger: 100 });
      assertEquals(first.map((o) => o.status), ["ok", "ok"]);
      assertEquals(await Deno.readTextFile(`${marks}-h1`), `h1 cpu ${tag}\n`);
      assertEquals(await Deno.readTextFile(`${marks}-h2`), `h2 cpu ${tag}\n`);
      const log = await Deno.readTextFile(first[0].log!);
      assertMatch(log, /\[2\/2\]: echo second\nsecond\n/);
      // The fingerprint is on the machine.
      assertEquals(
        (await Deno.readTextFile(`${home}/.dexp/setup/${key}`)).trim(),
        first[0].fingerprint,
      );

      const again = await runSetups(machines(cmds), { logDir: logs.path, key, stagger: 0 });
      assertEquals(again.map((o) => o.status), ["skipped", "skipped"]);
      assertEquals(await Deno.readTextFile(`${marks}-h1`), `h1 cpu ${tag}\n`, "not run again");

      const changed = [...cmds, "echo third"];
      const third = await runSetups(machines(changed), { logDir: logs.path, key, stagger: 0 });
      assertEquals(third.map((o) => o.status), ["ok", "ok"]);
      assertEquals(await Deno.readTextFile(`${marks}-h1`), `h1 cpu ${tag}\nh1 cpu ${tag}\n`);
      assertEquals((await Array.fromAsync(Deno.readDir(`${logs.path}/m0`))).length, 2);
    } finally {
      await new Hosts([host(tb, 0), host(tb, 1)]).close();
      for (const h of ["h1", "h2"]) await Deno.remove(`${marks}-${h}`).catch(() => {});
      await Deno.remove(`${home}/.dexp/setup/${key}`).catch(() => {});
      await Deno.remove(`${await homeOf(USERS.bash)}/.dexp/setup/${key}`).catch(() => {});
    }
  },
);

sshTest(
  "setup: a failing command stops the setup, names the command, keeps the log, and leaves no fingerprint",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using logs = await tempDir("dexp-pool-setup-");
    const tag = crypto.randomUUID().slice(0, 8);
    const home = await homeOf(USERS.dash);
    const key = `t-${tag}`;
    const m: SetupMachine = {
      name: "m0",
      host: host(tb, 0),
      class: "gpu",
      commands: ["echo before", "echo oops >&2; exit 7", `touch ${home}/never-${tag}`],
    };
    await using _c = closing(m.host);
    const [o] = await runSetups([m], { logDir: logs.path, key });
    assertEquals(o.status, "failed");
    assertMatch(o.reason!, /\[2\/3\] failed with exit code 7/);
    const log = await Deno.readTextFile(o.log!);
    assertMatch(log, /before/);
    assertMatch(log, /oops/);
    assertMatch(log, /# FAILED/);
    assert(!(await exists(`${home}/never-${tag}`)), "the third command did not run");
    assert(!(await exists(`${home}/.dexp/setup/${key}`)), "no fingerprint after a failure");
    // So the next attempt runs again (and fails again) instead of skipping.
    const [o2] = await runSetups([m], { logDir: logs.path, key });
    assertEquals(o2.status, "failed");
  },
);

sshTest(
  "setup: past its timeout the setup is killed on the host and fails with the reason",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using logs = await tempDir("dexp-pool-setup-");
    const tag = crypto.randomUUID().slice(0, 8);
    const m: SetupMachine = {
      name: "m0",
      host: host(tb, 0),
      class: "c",
      commands: [`sleep 300 # ${tag}`],
    };
    await using _c = closing(m.host);
    const [o] = await runSetups([m], { logDir: logs.path, key: `t-${tag}`, timeout: 1500 });
    assertEquals(o.status, "failed");
    assertMatch(o.reason!, /timed out/);
    const ps = await new Deno.Command("pgrep", { args: ["-f", tag] }).output();
    assertEquals(new TextDecoder().decode(ps.stdout).trim(), "", "nothing of the setup still runs");
  },
);

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Closes the host's shared connection at the end of the block. */
function closing(h: Host): AsyncDisposable {
  return { [Symbol.asyncDispose]: () => new Hosts([h]).close() };
}

sshTest(
  "setup: machines start staggered (each one stagger later than the one before)",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using logs = await tempDir("dexp-pool-setup-stagger-");
    const tag = crypto.randomUUID().slice(0, 8);
    const key = `s-${tag}`;
    const machines: SetupMachine[] = [0, 1].map((i) => ({
      name: `m${i}`,
      host: host(tb, i),
      class: "cpu",
      commands: ["true"],
      vars: {},
    }));
    const stagger = 1500;
    const startedAt: Record<string, number> = {};
    try {
      const t0 = performance.now();
      const out = await runSetups(machines, {
        logDir: logs.path,
        key,
        stagger,
        onStarted: (m) => {
          startedAt[m] = performance.now() - t0;
        },
      });
      assertEquals(out.map((o) => o.status), ["ok", "ok"]);
      // A lower bound by construction: the second machine's setup is not even sent before one
      // stagger has passed (a few ms of slack for timer rounding), however fast the first is.
      assert(startedAt.m1 >= stagger - 5, `m1 started after ${startedAt.m1} ms`);
      assert(startedAt.m0 < startedAt.m1, JSON.stringify(startedAt));
    } finally {
      await new Hosts([host(tb, 0), host(tb, 1)]).close();
      for (const u of [USERS.dash, USERS.bash]) {
        await Deno.remove(`${await homeOf(u)}/.dexp/setup/${key}`).catch(() => {});
      }
    }
  },
);

sshTest(
  "setup: a second start while one runs takes it back (it runs once); one that ended uncollected is started anew",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using dir = await tempDir("dexp-pool-setup-twice-");
    await Deno.chmod(dir.path, 0o777);
    const tag = crypto.randomUUID().slice(0, 8);
    const key = `t-${tag}`;
    const home = await homeOf(USERS.dash);
    const gate = `${dir.path}/gate`;
    const m: SetupMachine = {
      name: "m0",
      host: host(tb, 0),
      class: "cpu",
      commands: [`echo ran >> ${dir.path}/runs; while [ ! -e ${gate} ]; do sleep 0.05; done`],
    };
    try {
      const first = await startSetup(m, { key });
      assert(!first.skipped);
      assertEquals(first.adopted, undefined);
      // What a dispatcher restarted before it recorded the first start does: start again.
      const second = await startSetup(m, { key, force: true });
      assert(!second.skipped);
      assertEquals([second.adopted, second.ref.id], [true, first.ref.id]);
      await Deno.writeTextFile(gate, "");
      const out = await finishSetup("m0", second.ref, second.fingerprint, { logDir: dir.path });
      assertEquals(out.status, "ok", out.reason ?? "");
      assertEquals(await readLines(`${dir.path}/runs`), ["ran"], "the setup ran once");
      // Not forgotten (its program died after it ended): a forced setup starts a new one.
      const third = await startSetup(m, { key, force: true });
      assert(!third.skipped);
      assert(third.ref.id !== first.ref.id && third.adopted === undefined, third.ref.id);
      await finishSetup("m0", third.ref, third.fingerprint, { logDir: dir.path });
      assertEquals(await readLines(`${dir.path}/runs`), ["ran", "ran"]);
      await attachJobs(third.ref).forget();
      const left = await listJobs([host(tb, 0)]);
      assertEquals(left.filter((j) => [first.ref.id, third.ref.id].includes(j.job.id)), []);
    } finally {
      await new Hosts([host(tb, 0)]).close();
      await Deno.remove(`${home}/.dexp/setup/${key}`).catch(() => {});
    }
  },
);
