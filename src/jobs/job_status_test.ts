import assert from "node:assert/strict";
import { decideStatus, parseReports, signalOfStatus } from "./job_status.ts";

const BOOT = "9a6b30e7-c5dc-4263-8ef7-816639d7808c";

function report(lines: string[]): string {
  return ["@job j1", `meta boot=${BOOT}`, ...lines, "@now 1000"].join("\n");
}

Deno.test("a running supervisor with its recorded start time means running", () => {
  const [r] = parseReports(report([
    `bootnow ${BOOT}`,
    "pid 10 500 9 499",
    "cproc S 500",
    "sproc S 499",
    "hb 990",
  ]));
  assert.deepEqual(decideStatus(r), { state: "running", pid: 10, heartbeatAge: 10 });
});

Deno.test("a pid with another start time is not the job", () => {
  const [r] = parseReports(report([
    `bootnow ${BOOT}`,
    "pid 10 500 9 499",
    "cproc S 777",
    "sproc S 778",
  ]));
  const st = decideStatus(r);
  assert.equal(st.state, "lost");
  assert.equal(st.state === "lost" && st.reason, "supervisor gone");
});

Deno.test("a zombie supervisor counts as gone; the exit file wins", () => {
  const zombie = report([`bootnow ${BOOT}`, "pid 10 500 9 499", "cproc none", "sproc Z 499"]);
  assert.equal(decideStatus(parseReports(zombie)[0]).state, "lost");
  // The supervisor wrote the exit file between the first and the second look.
  const raced = report([
    `bootnow ${BOOT}`,
    "pid 10 500 9 499",
    "cproc none",
    "sproc none",
    "exit 3 1700000000000",
  ]);
  assert.deepEqual(decideStatus(parseReports(raced)[0]), {
    state: "exited",
    code: 3,
    end: new Date(1700000000000),
  });
});

Deno.test("a changed boot id means rebooted, whatever runs under the old pids", () => {
  const [r] = parseReports(report([
    "bootnow 00000000-0000-0000-0000-000000000000",
    "pid 10 500 9 499",
    "cproc S 500",
    "sproc S 499",
  ]));
  const st = decideStatus(r);
  assert.equal(st.state === "lost" && st.reason, "host rebooted");
});

Deno.test("statuses above 128 are signals; dexp's kill is told apart", () => {
  assert.equal(signalOfStatus(143), "SIGTERM");
  assert.equal(signalOfStatus(137), "SIGKILL");
  assert.equal(signalOfStatus(7), null);
  const [r] = parseReports(report(["exit 143 1", "killed TERM"]));
  assert.deepEqual(decideStatus(r), {
    state: "killed",
    signal: "SIGTERM",
    byDexp: true,
    end: new Date(1),
  });
  const [gone] = parseReports("@job j2\ngone\n@now 5");
  assert.equal(decideStatus(gone).state === "lost" && decideStatus(gone).state, "lost");
});
