import assert from "node:assert/strict";
import { parseJobcomp, parseSacct, parseSqueue } from "./tracker.ts";

Deno.test("parseSqueue reads state, reason and nodes of every line", () => {
  const m = parseSqueue("12|RUNNING|None|n[1-2]\n13|PENDING|Resources|\n14_2|PENDING|Priority|\n");
  assert.deepEqual([...m.keys()], ["12", "13", "14_2"]);
  assert.equal(m.get("12")!.outcome, "running");
  assert.equal(m.get("12")!.nodes, "n[1-2]");
  assert.equal(m.get("12")!.reason, null);
  assert.equal(m.get("13")!.reason, "Resources");
  assert.equal(m.get("13")!.nodes, null);
  assert.equal(m.get("14_2")!.outcome, "pending");
});

// A line written by jobcomp/filetxt of Slurm 22.05 on our test cluster.
const JOBCOMP =
  "JobId=1 UserId=root(0) GroupId=root(0) Name=wrap JobState=CANCELLED Partition=debug TimeLimit=UNLIMITED StartTime=2026-12-01T11:13:52 EndTime=2026-12-01T11:13:53 NodeList=n[1-2] NodeCnt=2 ProcCnt=2 WorkDir=/work/wt/slurm ReservationName= Tres=cpu=2,mem=2000M,node=2,billing=2 Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-12-01T11:13:50 EligibleTime=2026-12-01T11:13:50 DerivedExitCode=0:0 ExitCode=0:0 \n";

Deno.test("parseJobcomp reads the completion log; a job's last line wins", () => {
  const later = JOBCOMP.replace("JobState=CANCELLED", "JobState=COMPLETED");
  const m = parseJobcomp(
    JOBCOMP + "JobId=2 JobState=NODE_FAIL NodeList=n3\n" + later + "garbage\n",
  );
  assert.equal(m.get("1")!.state, "COMPLETED");
  assert.equal(m.get("1")!.nodes, "n[1-2]");
  assert.equal(m.get("2")!.outcome, "node_fail");
  assert.equal(m.size, 2);
});

Deno.test("parseSacct reads sacct -P lines, decorations included", () => {
  const m = parseSacct(
    "5|CANCELLED by 0|None|n1\n6|OUT_OF_MEMORY|OutOfMemory|n2\n7|PENDING|Priority|None assigned\n",
  );
  assert.equal(m.get("5")!.outcome, "cancelled");
  assert.equal(m.get("6")!.outcome, "out_of_memory");
  assert.equal(m.get("6")!.reason, "OutOfMemory");
  assert.equal(m.get("7")!.nodes, null);
});

Deno.test("parseJobcomp names array tasks as squeue does (ARRAYJOB_TASK)", () => {
  const line = (id: number, task: number, state: string) =>
    `JobId=${id} UserId=root(0) Name=wrap JobState=${state} NodeList=n1 ArrayJobId=1 ArrayTaskId=${task} DerivedExitCode=0:0 ExitCode=0:0`;
  const m = parseJobcomp([line(2, 0, "COMPLETED"), line(3, 1, "PREEMPTED"), ""].join("\n"));
  assert.deepEqual([...m.keys()], ["1_0", "1_1"]);
  assert.equal(m.get("1_1")!.outcome, "preempted");
});
