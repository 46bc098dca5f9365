import { join } from "node:path";
import { assertEquals } from "../../tests/assert.ts";
import {
  type DetachedEntry,
  JOBS_JSON,
  readJobsFile,
  recordedJobs,
  removeJobsFile,
  writeJobsFile,
} from "./detached.ts";

function entry(call: number, id: string): DetachedEntry {
  return {
    call,
    name: "job",
    commands: [JSON.stringify("true")],
    targets: ["local"],
    attempt: 1,
    runner: { host: "h", pid: 1 },
    started: new Date(0).toISOString(),
    jobs: [{ target: "local", ref: { v: 1, host: { local: "local" }, id, root: "/tmp/x" } }],
  };
}

const ID_A = "job-20260101-000000-aaaaaaaa";
const ID_B = "job-20260101-000000-bbbbbbbb";

Deno.test("jobs.json round-trips, drops entries with a malformed reference, and is removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dexp-detached-" });
  try {
    assertEquals(await readJobsFile(dir), []);
    await writeJobsFile(dir, [entry(0, ID_A), entry(1, ID_B)]);
    assertEquals((await readJobsFile(dir)).map((e) => e.jobs[0].ref.id), [ID_A, ID_B]);
    const bad = { ...entry(1, ID_B) };
    bad.jobs = [{ target: "local", ref: { ...bad.jobs[0].ref, id: "../../etc" } }];
    await writeJobsFile(dir, [entry(0, ID_A), bad]);
    assertEquals((await readJobsFile(dir)).map((e) => e.call), [0]);
    await Deno.writeTextFile(join(dir, JOBS_JSON), "{ torn");
    assertEquals(await readJobsFile(dir), []);
    await removeJobsFile(dir);
    assertEquals(await readJobsFile(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recordedJobs reads a run folder, or an experiment folder's latest run", async () => {
  const exp = await Deno.makeTempDir({ prefix: "dexp-detached-" });
  try {
    const older = join(exp, "20260101-000000-0000");
    const newer = join(exp, "20260102-000000-0000");
    for (const run of [older, newer]) {
      await Deno.mkdir(join(run, "k=1"), { recursive: true });
      await Deno.mkdir(join(run, "k=2"), { recursive: true });
      await Deno.writeTextFile(join(run, "run.json"), "{}");
    }
    await writeJobsFile(join(older, "k=1"), [entry(0, ID_A)]);
    await writeJobsFile(join(newer, "k=2"), [entry(0, ID_B)]);
    const latest = await recordedJobs(exp);
    assertEquals(latest?.map((r) => [r.runDir, r.combination]), [[newer, "k=2"]]);
    const run = await recordedJobs(older);
    assertEquals(run?.map((r) => r.entries[0].jobs[0].ref.id), [ID_A]);
    assertEquals(await recordedJobs(join(older, "k=1")), null);
  } finally {
    await Deno.remove(exp, { recursive: true });
  }
});
