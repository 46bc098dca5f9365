/**
 * Detached jobs on a real sshd testbed (loopback), each next to its floor in the same run:
 *
 *   (a) starting a detached `true` on 32 hosts over reused connections
 *       vs  an attached `true` on the same hosts (target: at most 1.5x); and the ssh sessions
 *       a start opens (one per host)
 *   (b) polling the status of 32 running jobs (one per host, then 4 per host)
 *       vs  an attached `true` on the same hosts (one round trip per host); and the count of
 *       ssh sessions the poll opened, from the daemons' logs
 *
 * Robust on a busy machine: each round times the floor and the case back to back (same
 * conditions), (a) is repeated in RUNS runs of ROUNDS rounds, and every figure is a median.
 * Where the cpuacct cgroup (v1) is writable, (a) also gives the CPU time each start costs,
 * hosts (the sshd daemons and everything they start, the detached supervisors included) and
 * client (this program and its ssh processes) apart: CPU time moves much less with the load
 * of other programs than elapsed time does.
 *
 * (a) runs twice: with the jobs root in the login user's home (as the default; every testbed
 * host has a home of its own, on this machine's disk), and on tmpfs (/dev/shm), where the
 * jobs' files cost no disk work, so that what dexp itself costs shows apart from the disk.
 *
 *   deno run -A bench/jobs.ts [HOSTS] [ROUNDS] [RUNS]   (needs root: it starts sshd)
 */
import { attachJobs, detach, type Hosts, hosts, type JobGroup } from "../mod.ts";
import { startTestbed, type Testbed, USERS } from "../tests/harness/sshd.ts";

const count = Number(Deno.args[0] ?? 32);
const rounds = Number(Deno.args[1] ?? 10);
const runs = Number(Deno.args[2] ?? 5);

function nodes(tb: Testbed): Hosts {
  return hosts(tb.hosts.map((h) => ({ address: h.address, port: h.port, name: h.name }))).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

async function time(fn: () => PromiseLike<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPU accounting of this program (client) and of the testbed's daemons (hosts). */
class Cpu {
  readonly #dir: string;
  private constructor(dir: string) {
    this.#dir = dir;
  }
  static async open(): Promise<Cpu | null> {
    const base = "/sys/fs/cgroup/cpuacct";
    const dir = `${base}/dexp-bench-jobs-${Deno.pid}`;
    try {
      await Deno.mkdir(`${dir}/client`, { recursive: true });
      await Deno.mkdir(`${dir}/hosts`, { recursive: true });
      await Deno.writeTextFile(`${dir}/client/cgroup.procs`, `${Deno.pid}\n`);
      return new Cpu(dir);
    } catch {
      return null;
    }
  }
  async addHosts(tb: Testbed): Promise<void> {
    for (const d of tb.daemons) {
      const pid = (await Deno.readTextFile(d.pidFile)).trim();
      await Deno.writeTextFile(`${this.#dir}/hosts/cgroup.procs`, `${pid}\n`);
    }
  }
  /** CPU ms used so far: [client, hosts]. */
  async read(): Promise<[number, number]> {
    const ns = async (g: string) =>
      Number(await Deno.readTextFile(`${this.#dir}/${g}/cpuacct.usage`)) / 1e6;
    return [await ns("client"), await ns("hosts")];
  }
  async close(): Promise<void> {
    await Deno.writeTextFile("/sys/fs/cgroup/cpuacct/cgroup.procs", `${Deno.pid}\n`);
    for (const g of ["client", "hosts", ""]) {
      await Deno.remove(`${this.#dir}/${g}`).catch(() => {});
    }
  }
}

/** Runs `fn` and returns the CPU ms it cost: [client, hosts], or null without accounting. */
async function cpuOf(
  cpu: Cpu | null,
  fn: () => PromiseLike<unknown>,
): Promise<[number, number] | null> {
  if (!cpu) {
    await fn();
    return null;
  }
  const [c0, h0] = await cpu.read();
  await fn();
  // The detached supervisors finish after the start returned: their CPU time is the start's.
  await new Promise((r) => setTimeout(r, 200));
  const [c1, h1] = await cpu.read();
  return [c1 - c0, h1 - h0];
}

async function sessions(tb: Testbed): Promise<number> {
  let c = 0;
  for (const d of tb.daemons) {
    c += (await Deno.readTextFile(d.logFile)).split("\n")
      .filter((l) => /Starting session/.test(l)).length;
  }
  return c;
}

/** The sessions logged since `before`, once the daemons' logs have caught up. */
async function opened(tb: Testbed, before: number, expected: number): Promise<number> {
  let c = await sessions(tb);
  for (let i = 0; i < 50 && c - before < expected; i++) {
    await new Promise((r) => setTimeout(r, 20));
    c = await sessions(tb);
  }
  return c - before;
}

const cpu = await Cpu.open();
// Every host has a home of its own, as real hosts have (the testbed's hosts are one machine).
await using tb = await startTestbed({
  hosts: count,
  kexAlgorithms: null,
  logLevel: "VERBOSE",
  homePerHost: true,
});
await cpu?.addHosts(tb);
await using n = nodes(tb);
const tag = crypto.randomUUID().slice(0, 8);
const root = `~/.dexp-bench-jobs-${tag}`;
await n.run("true").quiet(); // connections up, not timed
await n.run(`mkdir -p ${root}`).quiet(); // jobs root made, not timed

/**
 * (a) for one jobs root. The jobs it starts are removed only at its end: an ext4 file system
 * without a journal (ours) does not give an inode deleted less than 60 s ago to a new file,
 * and scans past every such inode (reading its inode table block) each time it makes one, so
 * removing job folders between runs would charge the benchmark's own clean-up to the next
 * starts. (The same holds for the minute after any program removed many files: run the
 * benchmark on a machine that did not.)
 */
async function startCost(where: string, root: string): Promise<void> {
  const kept: JobGroup[] = [];
  console.log(
    `(a) start on ${count} hosts, reused connections, jobs root ${where}: ${runs} runs of ${rounds} rounds, each round the floor then the case`,
  );
  const runRatios: number[] = [];
  const allA: number[] = [];
  const allD: number[] = [];
  let startSessions = 0;
  for (let run = 0; run < runs; run++) {
    const attached: number[] = [];
    const detached: number[] = [];
    const started: JobGroup[] = [];
    for (let i = 0; i < rounds; i++) {
      attached.push(await time(() => n.run("true").quiet()));
      const before = await sessions(tb);
      detached.push(await time(async () => started.push(await detach(n.run("true"), { root }))));
      startSessions += await opened(tb, before, count);
    }
    const a = median(attached);
    const d = median(detached);
    allA.push(...attached);
    allD.push(...detached);
    runRatios.push(d / a);
    console.log(
      `    run ${run + 1}: attached true ${a.toFixed(1)} ms (floor), detached true ${
        d.toFixed(1)
      } ms: ${(d / a).toFixed(2)}x`,
    );
    kept.push(...started);
  }
  const a = median(allA);
  const d = median(allD);
  console.log(`    all ${runs * rounds} rounds: attached true   ${a.toFixed(1)} ms   (floor)`);
  console.log(
    `    all ${runs * rounds} rounds: detached true   ${d.toFixed(1)} ms   ${
      (d / a).toFixed(2)
    }x; median of the runs' ratios ${median(runRatios).toFixed(2)}x (target <= 1.5x)`,
  );
  // Each round's case over its own floor, timed back to back: the paired comparison.
  console.log(
    `    median of the ${allD.length} rounds' own ratios (case / its floor): ${
      median(allD.map((x, k) => x / allA[k])).toFixed(2)
    }x`,
  );
  console.log(
    `    ssh sessions per start: ${startSessions / (runs * rounds)} for ${count} hosts`,
  );
  if (cpu) {
    const ca: [number, number][] = [];
    const cd: [number, number][] = [];
    const started: JobGroup[] = [];
    for (let i = 0; i < runs * rounds; i++) {
      ca.push((await cpuOf(cpu, () => n.run("true").quiet()))!);
      cd.push(
        (await cpuOf(cpu, async () => started.push(await detach(n.run("true"), { root }))))!,
      );
    }
    kept.push(...started);
    const col = (xs: [number, number][], k: 0 | 1) => median(xs.map((x) => x[k]));
    const tot = (xs: [number, number][]) => median(xs.map((x) => x[0] + x[1]));
    console.log(`    CPU time per start on ${count} hosts, median of ${runs * rounds}:`);
    console.log(
      `    attached true   client ${col(ca, 0).toFixed(1)} ms, hosts ${
        col(ca, 1).toFixed(1)
      } ms, total ${tot(ca).toFixed(1)} ms   (floor)`,
    );
    console.log(
      `    detached true   client ${col(cd, 0).toFixed(1)} ms, hosts ${
        col(cd, 1).toFixed(1)
      } ms, total ${tot(cd).toFixed(1)} ms   ${(tot(cd) / tot(ca)).toFixed(2)}x`,
    );
  }
  await attachJobs(kept.flatMap((g) => g.refs)).forget();
}

await startCost("~ (a home per host, on the machine's disk)", root);
// The same on tmpfs, where the jobs' files cost no disk work: dexp's own cost.
const shm = `/dev/shm/.dexp-bench-jobs-${tag}`;
const haveShm = await Deno.stat("/dev/shm").then((s) => s.isDirectory, () => false);
if (haveShm) {
  await n.run(`mkdir -p ${shm}`).quiet();
  await startCost("/dev/shm (tmpfs)", shm);
}

for (const perHost of [1, 4]) {
  const groups: JobGroup[] = [];
  for (let k = 0; k < perHost; k++) groups.push(await detach(n.run("sleep 600"), { root }));
  const all = attachJobs(groups.flatMap((g) => g.refs));
  await all.status(); // the attached group's own connections, not timed
  const polls: number[] = [];
  const floor: number[] = [];
  let polled = 0;
  for (let i = 0; i < rounds; i++) {
    floor.push(await time(() => n.run("true").quiet()));
    const before = await sessions(tb);
    polls.push(
      await time(async () => {
        const st = await all.status();
        if (!st.every((s) => s.state === "running")) throw new Error("a job is not running");
      }),
    );
    polled += await opened(tb, before, count);
  }
  const p = median(polls);
  const f = median(floor);
  console.log(
    `(b) status of ${all.length} running jobs (${perHost} per host), median of ${rounds}:`,
  );
  console.log(`    attached true   ${f.toFixed(1)} ms   (floor: one round trip per host)`);
  console.log(
    `    status()        ${p.toFixed(1)} ms   ${(p / f).toFixed(2)}x; ssh sessions per poll: ${
      polled / rounds
    } for ${count} hosts`,
  );
  await all.forget();
}
await n.run(`rm -rf ${root} ${shm}`).quiet();
await n.close();
await tb.close();
await cpu?.close();
