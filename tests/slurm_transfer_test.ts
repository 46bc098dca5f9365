/**
 * put() and get() on a Slurm allocation without ssh (tar streamed through a job step),
 * against a real single-machine cluster (tests/harness/slurm.ts).
 *
 * @module
 */

import { join } from "node:path";
import { slurmAllocate } from "../mod.ts";
import { assert, assertEquals, assertMatch, assertRejects, tempDir } from "./assert.ts";
import { slurmTest, startSlurmCluster } from "./harness/slurm.ts";

slurmTest("put() and get() copy files to and from every node through job steps", async () => {
  await using sc = await startSlurmCluster({ nodes: 2 });
  await using tmp = await tempDir("dexp-slurm-put-");
  const src = join(tmp.path, "src");
  await Deno.mkdir(join(src, "sub"), { recursive: true });
  await Deno.writeTextFile(join(src, "sub", "it's a file.txt"), "hello\n");
  await Deno.writeTextFile(join(src, "run.sh"), "#!/bin/sh\necho ran\n");
  await Deno.chmod(join(src, "run.sh"), 0o755);
  const single = join(tmp.path, "single.txt");
  await Deno.writeTextFile(single, "one\n");
  // The fake nodes share this machine's disk: {host} keeps their folders apart.
  const remote = join(tmp.path, "on-{host}");
  await using alloc = await slurmAllocate({ nodes: 2, env: sc.env });
  const put = await alloc.put([src, single], remote);
  assertEquals(put.results.map((r) => r.ok), [true, true]);
  for (const n of alloc.nodes) {
    const at = join(tmp.path, `on-${n}`);
    assertEquals(await Deno.readTextFile(join(at, "src", "sub", "it's a file.txt")), "hello\n");
    assertEquals(await Deno.readTextFile(join(at, "single.txt")), "one\n");
    assertEquals((await Deno.stat(join(at, "src", "run.sh"))).mode! & 0o777, 0o755);
  }
  // The copy is on the node: a step there runs it.
  const ran = await alloc.run((n) => join(tmp.path, `on-${n.name}`, "src", "run.sh")).quiet();
  assertEquals(ran.results.map((r) => r.stdout), ["ran\n", "ran\n"]);
  // Something made on the nodes comes back, one folder per node.
  await alloc.run((n) => `echo "$SLURMD_NODENAME" > ${join(tmp.path, `on-${n.name}`, "made")}`);
  const back = join(tmp.path, "back", "{host}");
  const got = await alloc.get(join(tmp.path, "on-{host}", "made"), back);
  assertEquals(got.results.map((r) => r.ok), [true, true]);
  for (const n of alloc.nodes) {
    assertEquals(await Deno.readTextFile(join(tmp.path, "back", n, "made")), `${n}\n`);
  }
});

slurmTest(
  "a failed get() says so per node; bad paths and a released allocation are refused",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 2 });
    await using tmp = await tempDir("dexp-slurm-get-");
    const alloc = await slurmAllocate({ nodes: 2, env: sc.env });
    try {
      const r = await alloc.get(join(tmp.path, "missing"), join(tmp.path, "{host}")).noThrow();
      assertEquals(r.results.map((x) => x.ok), [false, false]);
      for (const x of r.results) {
        assert(x.exitCode !== 0, JSON.stringify(x));
        assertMatch(x.stderr, /missing/);
      }
      let e: unknown;
      try {
        alloc.get("/etc/hostname", join(tmp.path, "all"));
      } catch (err) {
        e = err;
      }
      assert(e instanceof TypeError);
      assertMatch(e.message, /would mix their files: put \{host\} in it/);
      try {
        alloc.put([join(tmp.path, "a", "x"), join(tmp.path, "b", "x")], "/tmp");
        e = undefined;
      } catch (err) {
        e = err;
      }
      assert(e instanceof TypeError);
      assertMatch(e.message, /two paths with the same name 'x'/);
    } finally {
      await alloc.release();
    }
    await Deno.writeTextFile(join(tmp.path, "f"), "x");
    await assertRejects(
      () => alloc.put(join(tmp.path, "f"), "/tmp/{host}").then((r) => r),
      Error,
      "was released",
    );
  },
);
