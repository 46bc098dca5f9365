/**
 * A Slurm allocation's nodes as ssh hosts (`alloc.ssh()`), against a real single-machine
 * cluster whose nodes have the addresses of an sshd testbed's hosts as host names: commands
 * and detached jobs log in to the name Slurm has for each node.
 *
 * @module
 */

import { detach, slurmAllocate } from "../mod.ts";
import { assert, assertEquals } from "./assert.ts";
import { slurmTest, startSlurmCluster } from "./harness/slurm.ts";
import { startTestbed, testbedUnavailable, USERS } from "./harness/sshd.ts";

slurmTest({
  name: "alloc.ssh() gives ssh hosts on the nodes' host names: commands and detached jobs",
  ignore: testbedUnavailable !== null,
  fn: async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await using sc = await startSlurmCluster({
      nodes: 2,
      nodeHostnames: tb.hosts.map((h) => h.address),
    });
    const alloc = await slurmAllocate({ nodes: 2, env: sc.env });
    try {
      await using nodes = await alloc.ssh({
        port: tb.hosts[0].port,
        user: USERS.dash,
        keyfile: tb.keyfile,
        knownHosts: tb.knownHosts,
        strictHostKeyChecking: "yes",
      });
      assertEquals(nodes.targets.map((h) => [h.name, h.address]), [
        ["n1", tb.hosts[0].address],
        ["n2", tb.hosts[1].address],
      ]);
      // Each command logged in to its node's address (the server side of the connection).
      const r = await nodes.run("echo $SSH_CONNECTION").quiet();
      assertEquals(r.results.map((x) => x.stdout.trim().split(" ")[2]), [
        tb.hosts[0].address,
        tb.hosts[1].address,
      ]);
      const jobs = await detach(nodes.run("echo started; sleep 0.2; echo ended"), { name: "t" });
      const w = await jobs.wait();
      assertEquals(w.results.map((x) => [x.ok, x.stdout]), [
        [true, "started\nended\n"],
        [true, "started\nended\n"],
      ]);
      await jobs.forget();
      // Slurm's other name for the nodes (detached jobs over srun: tests/slurm_jobs_test.ts).
      const byAddr = await alloc.ssh({}, { address: "NodeAddr" });
      assertEquals(byAddr.targets.map((h) => h.address), ["127.0.0.1", "127.0.0.1"]);
    } finally {
      await alloc.release();
    }
    const q = await sc.client("squeue", ["-h", "-o", "%i"]);
    assertEquals(q.stdout.trim(), "");
    assert(alloc.nodes.length === 2);
  },
});
