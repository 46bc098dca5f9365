/**
 * Bad input to `dexp run --slurm`, against a real single-machine cluster
 * (tests/harness/slurm.ts) and without Slurm: each a clear message naming the fix.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { assert, assertEquals, assertStringIncludes, tempDir } from "./assert.ts";
import { slurmTest, startSlurmCluster } from "./harness/slurm.ts";

const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const FIXTURE = resolve(import.meta.dirname!, "slurm_fixtures/cut.ts");

async function dexp(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

slurmTest(
  "dexp run --slurm: an unknown partition and a rejected array, each with the fix",
  async () => {
    await using sc = await startSlurmCluster({ nodes: 1 });
    await using tmp = await tempDir("dexp-slurm-bad-");
    const results = join(tmp.path, "results");
    const part = await dexp(
      ["run", "--slurm", "--sbatch", "--partition=nope", "--no-check", "-r", results, FIXTURE],
      sc.env,
    );
    assert(part.code !== 0, part.stdout);
    assertEquals(part.code, 1, part.stderr);
    assertStringIncludes(
      part.stderr,
      "dexp run: Slurm has no partition 'nope': use one of 'debug'",
    );
    assert(!part.stderr.includes("Uncaught"), part.stderr);
    const time = await dexp(
      ["run", "--slurm", "--sbatch", "--time=soon", "--no-check", "-r", results, FIXTURE],
      sc.env,
    );
    assert(time.code !== 0, time.stdout);
    assertStringIncludes(time.stderr, "sbatch refused the job array: Invalid --time specification");
    assertStringIncludes(time.stderr, "fix the options");
    // Nothing was submitted.
    const q = await sc.client("squeue", ["-h", "-o", "%i"]);
    assertEquals(q.stdout.trim(), "");
  },
);

Deno.test("dexp run --slurm without Slurm on the machine names the fix", async () => {
  await using tmp = await tempDir("dexp-slurm-none-");
  const r = await dexp(
    ["run", "--slurm", "--no-check", "-r", join(tmp.path, "results"), FIXTURE],
    { PATH: tmp.path },
  );
  assert(r.code !== 0, r.stdout);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, "dexp run: Slurm's 'sbatch' was not found on this machine");
  assertStringIncludes(r.stderr, "run dexp on a login node of the cluster");
});
