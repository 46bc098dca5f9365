// The Slurm test cluster itself: it comes up on other ports when its first ports are taken,
// and leaves no process or directory behind.
import { assert, assertEquals } from "../assert.ts";
import { isGone, listProcs, readEnvVar } from "./_proc.ts";
import { slurmTest, startSlurmCluster } from "./slurm.ts";

async function clusterProcs(conf: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await listProcs()) {
    if (p.state === "Z" || p.state === "X") continue;
    if ((await readEnvVar(p.pid, "SLURM_CONF")) === conf) out.push(p.pid);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

for (const which of ["controller", "node"] as const) {
  slurmTest(`the cluster moves to other ports when a ${which} port is in use`, async () => {
    // Hold a port on loopback: the first attempt's controller (or second node) port.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const busy = (listener.addr as Deno.NetAddr).port;
    const first = which === "controller" ? busy : busy - 2;
    try {
      await using sc = await startSlurmCluster({ nodes: 2, tryPorts: [first] });
      assert(sc.ctldPort !== first, `the controller kept port ${first}`);
      assert(![sc.ctldPort, ...sc.nodePorts].includes(busy), `a daemon has port ${busy}`);
      const r = await sc.client("sinfo", ["-h", "-N", "-o", "%N %T"]);
      assertEquals(r.stdout.trim().split("\n"), ["n1 idle", "n2 idle"]);
    } finally {
      listener.close();
    }
  });
}

slurmTest("closing the cluster leaves no daemon, step or directory behind", async () => {
  const sc = await startSlurmCluster({ nodes: 2 });
  const s = await sc.client("sbatch", [
    "--parsable",
    "-N2",
    "--output=/dev/null",
    "--wrap",
    "sleep 1000",
  ]);
  assertEquals(s.code, 0, s.out);
  const deadline = Date.now() + 60_000;
  while ((await sc.queue())[0]?.state !== "RUNNING") {
    if (Date.now() > deadline) throw new Error("The job did not start within 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const daemons = await clusterProcs(sc.conf);
  // munged, slurmctld, two slurmd, the batch step's slurmstepd and its shell.
  assert(daemons.length >= 5, `found ${daemons.length} processes of the cluster`);
  await sc.close();
  for (const pid of daemons) assert(await isGone(pid), `process ${pid} still runs`);
  assertEquals(await clusterProcs(sc.conf), []);
  assertEquals(await exists(sc.dir), false);
});
