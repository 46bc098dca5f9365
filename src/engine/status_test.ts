// A run recorded as running is running only while a runner lives, judged as the sweeper
// judges a claim's owner.
import { join } from "node:path";
import { assertEquals } from "../../tests/assert.ts";
import { currentOwner, ParamSweeper } from "../sweep/mod.ts";
import type { RunJson } from "./runner.ts";
import { RUN_JSON, SWEEP_DIR } from "./rundir.ts";
import { listRuns, runLiveness } from "./status.ts";

function runJson(runners: RunJson["runners"]): RunJson {
  return {
    format: 1,
    experiment: "e",
    runId: "20250101-000000-abcd",
    tags: [],
    versions: { dexp: "0", deno: "0", v8: "0", typescript: "0" },
    platform: { os: "linux", arch: "x86_64" },
    state: "running",
    start: new Date(0).toISOString(),
    hosts: ["local"],
    runners,
    total: 1,
    counts: { succeeded: 0, failed: 0, remaining: 1 },
    combinations: [{ name: "a=1", params: { a: 1 }, outcome: "pending" }],
  };
}

Deno.test("a runner on this host lives only with its pid and start time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const me = currentOwner();
    const self = { host: Deno.hostname(), pid: Deno.pid, start: "", boot: me.boot };
    assertEquals(
      (await runLiveness(dir, runJson([{ ...self, ticks: me.start }]))).state,
      "running",
    );
    // The same pid with another start time is another process: the runner is gone.
    const reused = runJson([{ ...self, ticks: me.start + 1 }]);
    assertEquals((await runLiveness(dir, reused)).state, "interrupted");
    // A finished or interrupted run keeps what run.json says.
    assertEquals((await runLiveness(dir, { ...reused, state: "finished" })).state, "finished");
    // listRuns shows the truth and what was recorded.
    const runDir = join(dir, "e", "20250101-000000-abcd");
    await Deno.mkdir(runDir, { recursive: true });
    await Deno.writeTextFile(join(runDir, RUN_JSON), JSON.stringify(reused));
    const [info] = await listRuns(dir);
    assertEquals([info.state, info.recorded], ["interrupted", "running"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a runner on another host lives while the lease of one of its claims is valid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t0 = Date.now();
    await using sw = await ParamSweeper.open(join(dir, SWEEP_DIR), [{ a: 1 }], {
      host: "elsewhere",
      leaseMs: 60_000,
      now: () => t0,
    });
    await sw.next();
    const other = { host: "elsewhere", pid: Deno.pid, start: "", boot: "0badb007", ticks: 1 };
    const rj = runJson([other]);
    const live = await runLiveness(dir, rj, t0 + 1000);
    assertEquals([live.state, live.claims.map((c) => c.combination)], ["running", [{ a: 1 }]]);
    assertEquals((await runLiveness(dir, rj, t0 + 120_000)).state, "interrupted");
    // Without any claim, nothing says the other host's runner lives.
    assertEquals((await runLiveness(join(dir, "none"), rj, t0)).state, "interrupted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
