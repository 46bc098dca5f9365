/**
 * Pool dispatch overhead on a real sshd testbed (loopback), over reused connections: with a
 * dispatcher serving the pool and a free slot, the time from `pool.submit()` returning to the
 * job running (its detached job started on the host and its reference recorded in the pool),
 * next to its floor in the same run: starting the same detached job by hand (`detach()`) on the
 * same host, over the same kind of connection. Target: under 50 ms per job.
 *
 *   deno run -A bench/pool_dispatch.ts [JOBS]   (needs root: it starts sshd)
 */
import { detach, hosts, initPool } from "../mod.ts";
import { startTestbed, USERS } from "../tests/harness/sshd.ts";

const jobs = Number(Deno.args[0] ?? 30);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))];
}

await using tb = await startTestbed({ hosts: 1 });
const spec = {
  address: tb.hosts[0].address,
  port: tb.hosts[0].port,
  name: tb.hosts[0].name,
  user: USERS.dash,
  keyfile: tb.keyfile,
  knownHosts: tb.knownHosts,
  strictHostKeyChecking: "yes" as const,
};
const dir = await Deno.makeTempDir({ prefix: "dexp-bench-pool-" });
const root = `~/.dexp-bench-pool-${crypto.randomUUID().slice(0, 8)}`;
try {
  await using pool = await initPool(`${dir}/pool`, { classes: [{ name: "c", slots: 1 }] });
  await pool.addMachines("c", [spec]);
  const stop = new AbortController();
  const served = pool.serve({ signal: stop.signal, jobsRoot: root, poll: 500 });
  // Warm up: the connection, the setup (none), one job.
  const waitRunning = async (id: number) => {
    while (true) {
      await pool.refresh();
      const j = (await pool.job(id))!;
      if (j.attempts.at(-1)?.ref) return;
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const waitEnded = async (id: number) => {
    while (true) {
      await pool.refresh();
      if ((await pool.job(id))!.state === "done") return;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const [w] = await pool.submit({ class: "c", command: "true" });
  await waitRunning(w.id);
  await waitEnded(w.id);

  const dispatch: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const [j] = await pool.submit({ class: "c", command: "true" });
    const submitted = performance.now();
    await waitRunning(j.id);
    dispatch.push(performance.now() - submitted);
    await waitEnded(j.id); // The slot is free again before the next one.
  }
  stop.abort();
  await served;

  const node = hosts([spec]);
  const floor: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const t = performance.now();
    const g = await detach(node.run("true").quiet(), { name: "floor", root });
    floor.push(performance.now() - t);
    await g.wait({ interval: 20 });
  }
  await node.close();
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`pool dispatch, ${jobs} jobs, one free slot, reused connections (ms):`);
  console.log(
    `  queue -> running (pool)         median ${f(median(dispatch))}  p90 ${f(p90(dispatch))}`,
  );
  console.log(`  detach() alone (floor)          median ${f(median(floor))}  p90 ${f(p90(floor))}`);
  console.log(`  dispatcher's own share          median ${f(median(dispatch) - median(floor))}`);
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const home = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((l) => l.startsWith(USERS.dash + ":"))!.split(":")[5];
  await Deno.remove(`${home}/${root.slice(2)}`, { recursive: true }).catch(() => {});
}
