/**
 * `experiment(..., { pool })`: the combinations of a run go onto the slots of a pool's ready
 * machines (real sshd hosts), `ctx.host` and `ctx.slot` tell where; never two combinations on
 * one slot at once (checked with what each recorded on its host).
 */
import { assert, assertEquals, assertRejects, tempDir } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { Host, type HostSpec } from "../src/ssh/mod.ts";
import { Hosts } from "../src/action/mod.ts";
import { DispatcherBusyError, DispatchLock, initPool } from "../src/pool/mod.ts";
import { defineExperiment, runExperiments } from "../src/engine/mod.ts";

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

sshTest(
  "engine on a pool: combinations on the slots of the ready machines, ctx.host and ctx.slot",
  async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using _c = {
      [Symbol.asyncDispose]: () =>
        new Hosts([new Host(spec(tb, 0)), new Host(spec(tb, 1))]).close(),
    };
    await using dir = await tempDir("dexp-pool-engine-");
    const out = await Deno.makeTempDir({ prefix: "dexp-pool-engine-out-" });
    await Deno.chmod(out, 0o777);
    try {
      const pdir = `${dir.path}/pool`;
      {
        await using pool = await initPool(pdir, {
          classes: [{ name: "cpu", slots: ["s0", "s1"] }],
        });
        await pool.addMachines("cpu", [spec(tb, 0), spec(tb, 1)]);
        for (const m of ["h1", "h2"]) {
          await pool.setupStarted(m, { fingerprint: "" });
          await pool.setupSucceeded(m, { fingerprint: "" });
        }
      }
      const seen: string[] = [];
      let busy = "";
      const e = defineExperiment(
        "onpool",
        { pool: { dir: pdir, class: "cpu" }, params: { n: [1, 2, 3, 4, 5, 6, 7, 8] } },
        async (ctx, p) => {
          seen.push(`${p.n} ${ctx.host} ${ctx.slot}`);
          // While the run uses the slots, no dispatcher can serve the pool.
          if (p.n === 1) {
            const e = await DispatchLock.acquire(pdir).then(
              async (l) => (await l.release(), null),
              (e) => e,
            );
            busy = e instanceof DispatcherBusyError ? e.message : String(e);
          }
          const r = await ctx.hosts.run(
            `echo "S ${ctx.host} ${ctx.slot} $(date +%s%N)" >> ${out}/log-$(hostname)-${ctx.host}; sleep 0.2; echo "E ${ctx.host} ${ctx.slot} $(date +%s%N)" >> ${out}/log-$(hostname)-${ctx.host}; echo $SSH_CONNECTION`,
          );
          // The command ran on the machine of the slot.
          assert(
            r.results[0].stdout.includes(
              ctx.host === "h1" ? tb.hosts[0].address : tb.hosts[1].address,
            ),
          );
        },
      );
      const s = await runExperiments([e], { results: `${dir.path}/results`, display: "none" });
      assertEquals(s.experiments[0].succeeded, 8);
      assertEquals(seen.length, 8);
      assert(/served by a dexp run: pid \d+/.test(busy), busy);
      const places = new Set(seen.map((x) => x.split(" ").slice(1).join(" ")));
      for (const p of places) assert(["h1 s0", "h1 s1", "h2 s0", "h2 s1"].includes(p), p);
      // Never two combinations on one slot at once: intervals per slot do not overlap.
      const lines: string[][] = [];
      for await (const f of Deno.readDir(out)) {
        lines.push(
          ...(await Deno.readTextFile(`${out}/${f.name}`)).trim().split("\n").map((l) =>
            l.split(" ")
          ),
        );
      }
      const bySlot = new Map<string, { s: bigint; e: bigint }[]>();
      const open = new Map<string, bigint>();
      for (const [k, h, slot, t] of lines) {
        const key = `${h} ${slot}`;
        if (k === "S") {
          assert(!open.has(key), `slot ${key} started twice at once`);
          open.set(key, BigInt(t));
        } else {
          bySlot.set(key, [...(bySlot.get(key) ?? []), { s: open.get(key)!, e: BigInt(t) }]);
          open.delete(key);
        }
      }
      assertEquals([...bySlot.values()].flat().length, 8);

      await assertRejects(
        () =>
          runExperiments([
            defineExperiment("nope", { pool: { dir: pdir, class: "gpu" } }, () => {}),
          ], {
            results: `${dir.path}/results`,
            display: "none",
          }),
        RangeError,
        "no class 'gpu'",
      );
      // A dispatcher serving the pool: a run on its slots is refused, nothing runs.
      {
        await using _dispatcher = await DispatchLock.acquire(pdir);
        let ran = false;
        await assertRejects(
          () =>
            runExperiments([
              defineExperiment("busy", { pool: { dir: pdir, class: "cpu" } }, () => {
                ran = true;
              }),
            ], { results: `${dir.path}/results`, display: "none" }),
          RangeError,
          "(a dispatcher) serves",
        );
        assertEquals(ran, false);
        await assertRejects(() => Deno.stat(`${dir.path}/results/busy`), Deno.errors.NotFound);
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
);
