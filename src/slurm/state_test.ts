import assert from "node:assert/strict";
import { slurmOutcome } from "./state.ts";

Deno.test("slurmOutcome maps every family of Slurm states", () => {
  const cases: [string, string, boolean][] = [
    ["PENDING", "pending", false],
    ["PD", "pending", false],
    ["CONFIGURING", "pending", false],
    ["REQUEUED", "pending", false],
    ["REQUEUE_HOLD", "pending", false],
    ["RUNNING", "running", false],
    ["R", "running", false],
    ["COMPLETING", "running", false],
    ["SUSPENDED", "running", false],
    ["COMPLETED", "completed", true],
    ["CD", "completed", true],
    ["FAILED", "failed", true],
    ["SPECIAL_EXIT", "failed", true],
    ["TIMEOUT", "timeout", true],
    ["DEADLINE", "timeout", true],
    ["CANCELLED", "cancelled", true],
    ["CANCELLED by 1000", "cancelled", true],
    ["CA", "cancelled", true],
    ["NODE_FAIL", "node_fail", true],
    ["BOOT_FAIL", "node_fail", true],
    ["PREEMPTED", "preempted", true],
    ["OUT_OF_MEMORY", "out_of_memory", true],
    ["OOM", "out_of_memory", true],
    ["running", "running", false],
  ];
  for (const [state, outcome, final] of cases) {
    const s = slurmOutcome(state);
    assert.equal(s.outcome, outcome, state);
    assert.equal(s.final, final, state);
  }
  assert.equal(slurmOutcome("CANCELLED by 0").state, "CANCELLED");
  assert.equal(slurmOutcome("CD").state, "COMPLETED");
});

Deno.test("slurmOutcome keeps Slurm's reason, and drops the empty ones", () => {
  assert.equal(slurmOutcome("PENDING", "Resources", "12").reason, "Resources");
  assert.equal(slurmOutcome("PENDING", "(Priority)").reason, "Priority");
  assert.equal(slurmOutcome("PENDING", "Resources", "12").jobId, "12");
  for (const none of ["None", "(null)", "", "  ", null]) {
    assert.equal(slurmOutcome("RUNNING", none).reason, null, String(none));
  }
});

Deno.test("slurmOutcome refuses a state Slurm does not have, naming it", () => {
  assert.throws(
    () => slurmOutcome("EXPLODED"),
    /Unknown Slurm job state 'EXPLODED': expected one of PENDING/,
  );
});
