// `dexp sweep status|reset`, in process through sweepVerb.run and as a real command.
import { assert, assertEquals } from "./assert.ts";
import { sweepVerb } from "../src/cli/sweep_verb.ts";
import { ParamSweeper, sweep } from "../src/sweep/mod.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function capture(
  fn: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function prepared(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-sweep-cli-" });
  // A clock one second apart per write: two completions within one millisecond would leave
  // no throughput to show.
  let clock = Date.now() - 60_000;
  const now = () => (clock += 1000);
  const s = await ParamSweeper.open(dir, sweep({ n: [1, 2, 3, 4], impl: ["a"] }), { now });
  await s.done((await s.next())!);
  await s.done((await s.next())!);
  await s.skip({ n: 4, impl: "a" }, "no node");
  await s.close();
  return dir;
}

Deno.test("dexp sweep status: text and JSON, in process", async () => {
  const dir = await prepared();
  try {
    await using s = await ParamSweeper.open(dir, sweep({ n: [1, 2, 3, 4], impl: ["a"] }));
    await s.next();
    const text = await capture(() => sweepVerb.run(["status", dir]));
    assertEquals(text.code, 0);
    assert(text.out.includes("done        2 (50.0%)"), text.out);
    assert(text.out.includes(`pid ${Deno.pid}`), text.out);
    const json = await capture(() => sweepVerb.run(["status", dir, "--json"]));
    const st = JSON.parse(json.out);
    assertEquals([st.total, st.done, st.skipped, st.inProgress, st.todo], [4, 2, 1, 1, 0]);
    assertEquals(st.claims[0].owner.pid, Deno.pid);
    assertEquals(st.claims[0].liveness, "alive");
    assert(st.perHour > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dexp sweep reset and usage errors", async () => {
  const dir = await prepared();
  try {
    assertEquals((await capture(() => sweepVerb.run(["reset", dir]))).code, 2);
    assertEquals(
      (await capture(() => sweepVerb.run(["reset", dir, "--all", "--skipped"]))).code,
      2,
    );
    assertEquals((await capture(() => sweepVerb.run(["status"]))).code, 2);
    assertEquals((await capture(() => sweepVerb.run(["status", dir, "--nope"]))).code, 2);
    assertEquals((await capture(() => sweepVerb.run(["frobnicate"]))).code, 2);
    assertEquals((await capture(() => sweepVerb.run([]))).code, 2);
    assertEquals((await capture(() => sweepVerb.run(["--help"]))).code, 0);
    const missing = await capture(() => sweepVerb.run(["status", `${dir}/nothing-here`]));
    assertEquals(missing.code, 1);
    assert(missing.err.includes("No sweep in"), missing.err);
    const r = await capture(() => sweepVerb.run(["reset", dir, "--skipped"]));
    assertEquals(r.code, 0);
    assertEquals(r.out, `1 combination back to todo in ${dir}`);
    const all = await capture(() => sweepVerb.run(["reset", dir, "--all"]));
    assertEquals(all.out, `2 combinations back to todo in ${dir}`); // the two done ones
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno run src/cli/main.ts sweep status DIR --json", async () => {
  const dir = await prepared();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "sweep", "status", dir, "--json"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const st = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals([st.total, st.done, st.skipped, st.todo], [4, 2, 1, 1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
