/**
 * ssh benchmarks on a real sshd testbed (loopback, OpenSSH's default key exchange), each next
 * to its floor measured in the same run:
 *
 *   (a) `true` on 8/32/64 cold hosts   vs  a bash loop of backgrounded raw `ssh host true`
 *   (b) the same with reused connections  vs  backgrounded raw ssh over the same sockets
 *   (c) 100 sequential commands on one host, reused  vs  raw `ssh -o ControlPath=... host true`
 *   (d) put of a 50 MB file to 8 hosts  vs  8 raw scp in parallel
 *
 *   deno run -A bench/ssh.ts            (needs root: it starts sshd; see tests/harness)
 */
import { closeConnections, type Hosts, hosts } from "../mod.ts";
import { startTestbed, type Testbed, USERS } from "../tests/harness/sshd.ts";

const sizes = (Deno.args[0] ?? "8,32,64").split(",").map(Number);

function nodes(tb: Testbed, count: number): Hosts {
  return hosts(
    tb.hosts.slice(0, count).map((h) => ({ address: h.address, port: h.port, name: h.name })),
  ).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

function rawOpts(tb: Testbed): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${tb.knownHosts}`,
    "-i",
    tb.keyfile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `User=${USERS.dash}`,
  ];
}

async function bash(script: string): Promise<void> {
  const r = await new Deno.Command("bash", { args: ["-c", script] }).output();
  if (r.code !== 0) throw new Error(`bench floor failed: ${new TextDecoder().decode(r.stderr)}`);
}

async function time(fn: () => PromiseLike<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Starts raw masters (not timed), each with a deadline so a stalled login cannot hang. */
const rawUp = new Set<number>();
async function rawMasters(
  tb: Testbed,
  targets: readonly { address: string; port: number }[],
): Promise<void> {
  await Promise.all(targets.map(async (h, i) => {
    // A master on a socket path that is in use would stay in the foreground forever.
    if (rawUp.has(i)) return;
    rawUp.add(i);
    const child = new Deno.Command("ssh", {
      args: [
        ...rawOpts(tb),
        "-p",
        String(h.port),
        "-o",
        "ControlMaster=yes",
        "-o",
        "ControlPersist=120",
        "-o",
        `ControlPath=${ctl}/${i}`,
        "-N",
        h.address,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const status = await child.status;
    clearTimeout(timer);
    if (!status.success) throw new Error(`raw master to ${h.address} failed: ${status.code}`);
  }));
}

const q = (s: string) => `'${s.replaceAll("'", `'"'"'`)}'`;
const rows: string[][] = [["benchmark", "dexp", "floor", "ratio"]];
const row = (name: string, d: number, f: number) =>
  rows.push([name, `${d.toFixed(0)} ms`, `${f.toFixed(0)} ms`, `${(d / f).toFixed(2)}x`]);

await using tb = await startTestbed({ hosts: Math.max(...sizes), kexAlgorithms: null });
const opts = rawOpts(tb).map(q).join(" ");
const ctl = `${tb.dir}/bench-ctl`;
await Deno.mkdir(ctl, { mode: 0o700 });

for (const n of sizes) {
  const group = nodes(tb, n);
  const targets = tb.hosts.slice(0, n);
  // (a) cold: dexp sets up a master per host, then runs the command over it.
  await closeConnections();
  const dCold = await time(() => group.run("true").quiet());
  const fCold = await time(() =>
    bash(
      targets.map((h) => `ssh ${opts} -p ${h.port} ${h.address} true &`).join("\n") + "\nwait",
    )
  );
  row(`(a) true on ${n} hosts, cold`, dCold, fCold);
  // (b) warm: dexp over its masters; floor: raw ssh over masters of its own.
  await rawMasters(tb, targets);
  const dWarm = await time(() => group.run("true").quiet());
  const fWarm = await time(() =>
    bash(
      targets.map((h, i) =>
        `ssh ${opts} -p ${h.port} -o ControlMaster=no -o ControlPath=${ctl}/${i} ${h.address} true &`
      ).join("\n") + "\nwait",
    )
  );
  row(`(b) true on ${n} hosts, reused`, dWarm, fWarm);
}

// (c) 100 sequential commands on one host.
{
  const one = nodes(tb, 1).at(0);
  await one.run("true").quiet();
  const h = tb.hosts[0];
  const dSeq = await time(async () => {
    for (let i = 0; i < 100; i++) await one.run("true").quiet();
  });
  const fSeq = await time(() =>
    bash(
      `for i in $(seq 100); do ssh ${opts} -p ${h.port} -o ControlMaster=no -o ControlPath=${ctl}/0 ${h.address} true; done`,
    )
  );
  row("(c) 100 sequential commands, one host", dSeq, fSeq);
}

// (d) 50 MB to 8 hosts.
{
  const file = `${tb.dir}/bench-50M.bin`;
  await bash(`head -c 50000000 /dev/urandom > ${file}`);
  const eight = nodes(tb, 8);
  await eight.run("true").quiet();
  const dPut = await time(() => eight.put(file, "/tmp/dexp-bench-put/{host}"));
  const fPut = await time(() =>
    bash(
      tb.hosts.slice(0, 8).map((h, i) =>
        `scp -q ${opts} -P ${h.port} -o ControlMaster=no -o ControlPath=${ctl}/${i} ${file} ${h.address}:/tmp/dexp-bench-scp-${i} &`
      ).join("\n") + "\nwait",
    )
  );
  row("(d) put 50 MB to 8 hosts", dPut, fPut);
  await bash("rm -rf /tmp/dexp-bench-put /tmp/dexp-bench-scp-*");
}

await bash(
  tb.hosts.map((h, i) => `ssh -o ControlPath=${ctl}/${i} -O exit ${h.address} 2>/dev/null`).join(
    "\n",
  ) + "\ntrue",
);
await closeConnections();
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((v, c) => v.padEnd(widths[c])).join("  "));
