import assert from "node:assert/strict";
import { classifyStep, SlurmNode } from "./node.ts";

const alloc = { jobId: "12", env: {}, closed: null };

Deno.test("a step cancelled under a running command is the allocation's failure, with why", () => {
  const plain = "slurmstepd-n2: error: *** STEP 12.3 ON n2 CANCELLED AT 2026-12-01T11:14:15 ***\n" +
    "srun: error: n2: task 0: Terminated\n";
  const c = classifyStep(alloc, "n2", true, 143, plain)!;
  assert.equal(c.failure, "connect");
  assert.match(
    c.reason,
    /^the Slurm allocation 12 ended while the command ran on n2: step 12\.3 cancelled at 2026-12-01T11:14:15/,
  );
  assert.match(c.reason, /make a new allocation with slurmAllocate\(\)$/);
  const preempted =
    "slurmstepd-n1: error: *** JOB 12 ON n1 CANCELLED AT 2026-12-01T11:14:15 DUE TO PREEMPTION ***\n";
  assert.match(
    classifyStep(alloc, "n1", true, 143, preempted)!.reason,
    /cancelled due to preemption/,
  );
  const limit =
    "slurmstepd-n1: error: *** STEP 12.0 ON n1 CANCELLED AT 2026-12-01T11:14:15 DUE TO TIME LIMIT ***\n";
  assert.match(classifyStep(alloc, "n1", true, 143, limit)!.reason, /cancelled due to time limit/);
});

Deno.test("a command's own failure stays the command's", () => {
  assert.equal(classifyStep(alloc, "n1", true, 3, "oops\n"), null);
  assert.equal(
    classifyStep(alloc, "n1", true, 1, "srun: error: n1: task 0: Exited with exit code 1\n"),
    null,
  );
});

Deno.test("a step that srun could not start says why, and whether the allocation is gone", () => {
  const gone = classifyStep(
    alloc,
    "n1",
    false,
    1,
    "srun: error: Slurm job 12 has expired\nsrun: Check SLURM_JOB_ID environment variable. Expired or invalid job 12\n",
  )!;
  assert.equal(gone.failure, "connect");
  assert.match(
    gone.reason,
    /^the Slurm allocation 12 has ended .*: Slurm job 12 has expired: make a new allocation/,
  );
  const other = classifyStep(
    alloc,
    "n7",
    false,
    1,
    "srun: error: Unable to create step for job 12: Requested node configuration is not available\n",
  )!;
  assert.equal(
    other.reason,
    "srun could not start a step of the Slurm allocation 12 on n7: Unable to create step for job 12: Requested node configuration is not available",
  );
});

Deno.test("the srun argv runs the script as one step on the node with its CPUs", () => {
  const n = new SlurmNode("n3", 4, alloc);
  assert.deepEqual(n.srunArgs("echo hi"), [
    "--jobid=12",
    "--overlap",
    "-w",
    "n3",
    "-N1",
    "-n1",
    "--cpus-per-task=4",
    "--quiet",
    "/bin/sh",
    "-c",
    "echo hi",
  ]);
  assert.ok(!new SlurmNode("n3", null, alloc).srunArgs("x").some((a) => a.startsWith("--cpus")));
});
