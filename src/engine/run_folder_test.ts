import { join } from "node:path";
import { assertEquals, assertRejects, tempDir } from "../../tests/assert.ts";
import { resolveRunDir, RunFolderError } from "./run_folder.ts";
import { LogNotFoundError, readLog } from "./follow_log.ts";

Deno.test("an experiment folder means its latest run; a run folder is itself", async () => {
  await using tmp = await tempDir("dexp-runfolder-");
  const exp = join(tmp.path, "train");
  for (const id of ["20260101-120000-aaaa", "20260102-090000-bbbb"]) {
    await Deno.mkdir(join(exp, id), { recursive: true });
    await Deno.writeTextFile(join(exp, id, "run.json"), "{}");
  }
  await Deno.mkdir(join(exp, "not-a-run"));
  assertEquals(await resolveRunDir(exp), join(exp, "20260102-090000-bbbb"));
  const first = join(exp, "20260101-120000-aaaa");
  assertEquals(await resolveRunDir(first), first);
  await assertRejects(() => resolveRunDir(join(tmp.path, "none")), RunFolderError, "No such");
  await Deno.mkdir(join(tmp.path, "empty"));
  await assertRejects(
    () => resolveRunDir(join(tmp.path, "empty")),
    RunFolderError,
    "is not a run folder",
  );
});

Deno.test("readLog gives a log's bytes; a missing log is a LogNotFoundError", async () => {
  await using tmp = await tempDir("dexp-readlog-");
  await Deno.mkdir(join(tmp.path, "a=1"));
  await Deno.writeTextFile(join(tmp.path, "log.txt"), "run line\n");
  await Deno.writeTextFile(join(tmp.path, "a=1", "log.txt"), "combo line\n");
  const text = async (it: AsyncIterable<Uint8Array>) => {
    let s = "";
    for await (const c of it) s += new TextDecoder().decode(c);
    return s;
  };
  assertEquals(await text(readLog(tmp.path)), "run line\n");
  assertEquals(await text(readLog(tmp.path, { combination: "a=1" })), "combo line\n");
  await assertRejects(
    () => text(readLog(tmp.path, { combination: "a=2" })),
    LogNotFoundError,
    "No log for combination 'a=2'",
  );
});
