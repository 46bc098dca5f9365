// The lifecycle of an attempt and of its records: a stopped attempt cannot go on or write,
// the whole failure of a group reaches every record, result.json and the checkpoint agree
// after a crash at any point, and a crashed owner's remote processes are ended on resume.
import { join, resolve } from "node:path";
import {
  AttemptStoppedError,
  defineExperiment,
  local,
  ParamSweeper,
  type RunEvent,
  runExperiments,
} from "../mod.ts";
import { toFileUrl } from "../src/cli/_common_verb.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  tempDir,
  waitFor,
} from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";

const ROOT = resolve(import.meta.dirname!, "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const MOD = toFileUrl(join(ROOT, "mod.ts"));
const quiet = { display: "none" } as const;

async function readRows(dir: string): Promise<unknown[]> {
  try {
    return (await Deno.readTextFile(join(dir, "rows.jsonl"))).trim().split("\n").filter((l) => l)
      .map((l) => JSON.parse(l));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("after an interrupt the attempt's command rejects, so --resume does not add its rows twice", async () => {
  await using tmp = await tempDir();
  const ac = new AbortController();
  let interrupting = true;
  const errors: unknown[] = [];
  const e = defineExperiment("dup", { params: { k: [1] } }, async (ctx, p) => {
    const h = ctx.spawn(interrupting ? "echo started; sleep 30" : "echo started");
    try {
      await h;
    } catch (err) {
      errors.push(err);
      throw err;
    }
    await ctx.addRows([{ k: p.k as number, attempt: ctx.attempt }]);
  });
  const stopOnStart = (ev: RunEvent) => {
    if (ev.type === "output" && ev.line.endsWith("started") && interrupting) ac.abort();
  };
  const s1 = await runExperiments([e], {
    results: tmp.path,
    signal: ac.signal,
    listeners: [stopOnStart],
    ...quiet,
  });
  assert(s1.interrupted);
  interrupting = false;
  const s2 = await runExperiments([e], { results: tmp.path, resume: true, ...quiet });
  assert(s2.ok);
  const dir = join(s2.experiments[0].runDir, "k=1");
  assertEquals(await readRows(dir), [{ k: 1, attempt: 1 }]);
  assertEquals(errors.length, 1);
  assert(errors[0] instanceof AttemptStoppedError, String(errors[0]));
  assertMatch((errors[0] as Error).message, /stopped \(the run was interrupted\)/);
});

Deno.test("a timed-out attempt that ignores the rejection cannot write into the next attempt", async () => {
  await using tmp = await tempDir();
  const secondStarted = Promise.withResolvers<void>();
  const firstTried = Promise.withResolvers<void>();
  const refused: Record<string, unknown> = {};
  const e = defineExperiment(
    "late",
    { params: { k: [1] }, timeout: 1000, maxRestarts: 1 },
    async (ctx) => {
      if (ctx.attempt === 1) {
        try {
          await ctx.spawn("sleep 30");
        } catch (err) {
          refused.await = err;
        }
        // Carries on regardless, with plain awaits, until the next attempt runs.
        await secondStarted.promise;
        const tries: [string, () => unknown][] = [
          ["addRows", () => ctx.addRows([{ from: 1 }])],
          ["writeFile", () => ctx.writeFile("late.txt", "1")],
          ["writeJson", () => ctx.writeJson("late.json", 1)],
          ["log", () => ctx.log("late line")],
          ["run", () => ctx.spawn("echo late-command")],
        ];
        for (const [what, f] of tries) {
          try {
            await f();
          } catch (err) {
            refused[what] = err;
          }
        }
        firstTried.resolve();
        return;
      }
      secondStarted.resolve();
      await firstTried.promise;
      await ctx.addRows([{ from: 2 }]);
    },
  );
  const s = await runExperiments([e], { results: tmp.path, stopGrace: 50, ...quiet });
  assert(s.ok, JSON.stringify(s));
  const dir = join(s.experiments[0].runDir, "k=1");
  assertEquals(await readRows(dir), [{ from: 2 }]);
  for (const what of ["await", "addRows", "writeFile", "writeJson", "log", "run"]) {
    assert(refused[what] instanceof AttemptStoppedError, `${what}: ${String(refused[what])}`);
  }
  assertMatch(
    String(refused.addRows),
    /Attempt 1 of 'k=1' was stopped \(timed out after 1000 ms\)/,
  );
  assert(!(await exists(join(dir, "late.txt"))) && !(await exists(join(dir, "late.json"))));
  const log = await Deno.readTextFile(join(dir, "log.txt"));
  assert(!log.includes("late"), log);
  assertStringIncludes(log, "did not return within 50 ms after attempt 1 was stopped");
});

Deno.test("after the body returns, what it left running is ended and cannot record anything", async () => {
  await using tmp = await tempDir();
  const ended = Promise.withResolvers<void>();
  let late: Promise<unknown> | undefined;
  const e = defineExperiment("leftover", { hosts: local(2), params: { k: [1] } }, (ctx) => {
    const h = ctx.spawn("sleep 30");
    late = (async () => {
      await ended.promise;
      const errs: unknown[] = [];
      try {
        await h;
      } catch (err) {
        errs.push(err);
      }
      try {
        await ctx.addRows([{ late: true }]);
      } catch (err) {
        errs.push(err);
      }
      return errs;
    })();
  });
  const s = await runExperiments([e], {
    results: tmp.path,
    ...quiet,
    listeners: [(ev) => ev.type === "combo-end" && ended.resolve()],
  });
  assert(s.ok);
  const errs = await late! as unknown[];
  assertEquals(await readRows(join(s.experiments[0].runDir, "k=1")), []);
  assertEquals(errs.length, 2);
  assert(errs.every((x) => x instanceof AttemptStoppedError), String(errs));
});

/** Runs `dexp ARGS` to its end; its output and exit status. */
async function dexp(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
  };
}

async function onlyRun(results: string, experiment: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(results, experiment))) {
    if (!e.name.startsWith(".")) names.push(e.name);
  }
  assertEquals(names.length, 1, `runs: ${names}`);
  return join(results, experiment, names[0]);
}

Deno.test("a group where one host fails: every record names the host, its exit code and stderr", async () => {
  await using tmp = await tempDir();
  const got = Promise.withResolvers<Record<string, unknown>>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      got.resolve(await req.json());
      return new Response("ok");
    },
  );
  const file = join(tmp.path, "two.ts");
  await Deno.writeTextFile(
    file,
    `import { experiment, local } from ${JSON.stringify(MOD)};
experiment("two", { hosts: local(2), params: { k: [1] } }, async (ctx) => {
  await ctx.spawn((_, i) => i === 1 ? "echo first >&2; echo 'disk full' >&2; exit 3" : "true");
});
`,
  );
  const results = join(tmp.path, "res");
  const r = await dexp([
    "run",
    "--no-progress",
    "-r",
    results,
    "--notify",
    `http://127.0.0.1:${server.addr.port}/hook`,
    file,
  ]);
  assertEquals(r.code, 1, r.stderr);
  const summary = "1 of 2 commands failed: local[1] exited with code 3: disk full";
  // The display: one line that names the host and the reason.
  assertStringIncludes(r.stdout, `[k=1] FAILED after 1 attempt(s): ${summary}\n`);
  assert(!r.stdout.includes("stderr (last"), r.stdout);
  const runDir = await onlyRun(results, "two");
  const failure = {
    host: "local[1]",
    kind: "exit",
    exitCode: 3,
    signal: null,
    reason: null,
    stderrTail: ["first", "disk full"],
  };
  const pick = (f: Record<string, unknown>) => {
    const { command: _, ...rest } = f;
    return rest;
  };
  const rec = JSON.parse(await Deno.readTextFile(join(runDir, "k=1", "result.json")));
  assertEquals(rec.error, summary);
  assertEquals(rec.failures.map(pick), [failure]);
  const rj = JSON.parse(await Deno.readTextFile(join(runDir, "run.json")));
  assertEquals(rj.combinations[0].failures.map(pick), [failure]);
  for (const log of [join(runDir, "log.txt"), join(runDir, "k=1", "log.txt")]) {
    const text = await Deno.readTextFile(log);
    assertMatch(text, /local\[1\]: exit, exit code 3; command: /);
    assertMatch(
      text,
      /stderr \(last 2 lines\):\n\S+ (\[k=1\] )? {6}first\n\S+ (\[k=1\] )? {6}disk full\n/,
    );
  }
  const body = await got.promise;
  assertStringIncludes(body.text as string, `k=1: ${summary}`);
  const dexpSummary = body.dexp as { experiments: { failures: { failures: unknown[] }[] }[] };
  const sent = dexpSummary.experiments[0].failures[0].failures as Record<string, unknown>[];
  assertEquals(sent.map(pick), [failure]);
});

Deno.test("Ctrl-C then 'dexp run --resume': the interrupted attempt's rows are not added twice", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "ctrlc.ts");
  const first = join(tmp.path, "first");
  const started = join(tmp.path, "started");
  await Deno.writeTextFile(first, "");
  await Deno.writeTextFile(
    file,
    `import { experiment } from ${JSON.stringify(MOD)};
experiment("ctrlc", { params: { k: [1] } }, async (ctx, p) => {
  let wait = false;
  try {
    await Deno.remove(${JSON.stringify(first)});
    wait = true;
  } catch { /* resumed */ }
  // The first time, the command runs until the interrupt; then the row is added.
  await ctx.spawn(wait ? ${JSON.stringify(`touch '${started}'; sleep 30`)} : "true");
  await ctx.addRows([{ k: p.k as number }]);
});
`,
  );
  const results = join(tmp.path, "res");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "--no-progress", "-r", results, file],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let ended = false;
  child.status.then(() => ended = true);
  try {
    await waitFor("the command to start", async () => ended || await exists(started));
    assert(!ended, "the run ended before its command started");
    child.kill("SIGINT");
  } finally {
    if (!ended) await child.status;
  }
  assertEquals((await child.status).code, 130);
  const resumed = await dexp(["run", "--no-progress", "--resume", "-r", results, file]);
  assertEquals(resumed.code, 0, resumed.stdout + resumed.stderr);
  assertEquals(await readRows(join(await onlyRun(results, "ctrlc"), "k=1")), [{ k: 1 }]);
});

/** Reads the checkpoint of a run: each combination's state. */
async function checkpoint(runDir: string, combos: { i: number }[]): Promise<string[]> {
  await using sw = await ParamSweeper.open(join(runDir, ".sweep"), combos);
  const out: string[] = [];
  for (const c of combos) out.push((await sw.stateOf(c)).state);
  return out;
}

Deno.test("after a SIGKILL at any point of recording, result.json and the checkpoint agree", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "rec.ts");
  const combos = [{ i: 0 }, { i: 1 }, { i: 2 }];
  await Deno.writeTextFile(
    file,
    `import { experiment } from ${JSON.stringify(MOD)};
experiment("rec", { params: { i: [0, 1, 2] } }, async (ctx, p) => {
  await Deno.writeTextFile(${
      JSON.stringify(join(tmp.path, "ran"))
    } + "-" + ctx.runDir.split("/").pop(), p.i + "\\n", { append: true });
});
`,
  );
  let n = 0;
  for (const point of ["result-pending", "checkpoint-written", "result-written"]) {
    for (const at of [1, 2, 3]) {
      const results = join(tmp.path, `res${n++}`);
      const killed = await dexp(["run", "--no-progress", "-r", results, file], {
        DEXP_TEST_CRASH_AT: `${point}:${at}`,
      });
      assertEquals(killed.signal, "SIGKILL", `${point}:${at}: ${killed.stdout}${killed.stderr}`);
      const runDir = await onlyRun(results, "rec");
      const states = await checkpoint(runDir, combos);
      const finished = states.map((s) => s === "done");
      for (const c of combos) {
        const rec = JSON.parse(
          await Deno.readTextFile(join(runDir, `i=${c.i}`, "result.json")).catch(() => "null"),
        );
        // A result in place says what the checkpoint says.
        if (rec !== null) {
          assert(finished[c.i], `${point}:${at}: i=${c.i} has result ${rec.outcome}, ${states}`);
        }
      }
      const resumed = await dexp(["run", "--no-progress", "--resume", "-r", results, file]);
      assertEquals(resumed.code, 0, `${point}:${at}: ${resumed.stdout}${resumed.stderr}`);
      assertEquals(await checkpoint(runDir, combos), ["done", "done", "done"]);
      const ran = (await Deno.readTextFile(join(tmp.path, `ran-${runDir.split("/").pop()}`)))
        .trim().split("\n").map(Number);
      for (const c of combos) {
        const rec = JSON.parse(await Deno.readTextFile(join(runDir, `i=${c.i}`, "result.json")));
        assertEquals(rec.outcome, "ok", `${point}:${at}: i=${c.i}`);
        // What the checkpoint said was done before the resume did not run again.
        const times = ran.filter((x) => x === c.i).length;
        assertEquals(times, finished[c.i] ? 1 : times, `${point}:${at}: i=${c.i} ran ${times}x`);
        assert(!(await exists(join(runDir, `i=${c.i}`, ".result.pending.json"))));
      }
    }
  }
});

Deno.test("SIGKILLs at random instants never leave a result that the checkpoint contradicts", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "rnd.ts");
  const ranFile = join(tmp.path, "ran");
  const combos = Array.from({ length: 40 }, (_, i) => ({ i }));
  await Deno.writeTextFile(
    file,
    `import { experiment } from ${JSON.stringify(MOD)};
experiment("rnd", { params: { i: ${JSON.stringify(combos.map((c) => c.i))} } }, async (ctx, p) => {
  await ctx.spawn("true");
  await Deno.writeTextFile(${JSON.stringify(ranFile)}, p.i + "\\n", { append: true });
  await ctx.addRows([{ i: p.i as number }]);
});
`,
  );
  const results = join(tmp.path, "res");
  const ranCount = async (i: number) =>
    (await Deno.readTextFile(ranFile).catch(() => "")).split("\n").filter((l) => l === `${i}`)
      .length;
  // Once the checkpoint says done, the combination never runs again.
  const doneAt = new Map<number, number>();
  const check = async (what: string) => {
    let runDir: string;
    try {
      runDir = await onlyRun(results, "rnd");
    } catch {
      return; // killed before the run had a folder
    }
    if (!(await exists(join(runDir, ".sweep")))) return;
    const states = await checkpoint(runDir, combos);
    for (const c of combos) {
      const rec = JSON.parse(
        await Deno.readTextFile(join(runDir, `i=${c.i}`, "result.json")).catch(() => "null"),
      );
      if (rec !== null) {
        assertEquals([rec.outcome, states[c.i]], ["ok", "done"], `${what}: i=${c.i}`);
        assertEquals(await readRows(join(runDir, `i=${c.i}`)), [{ i: c.i }], `${what}: i=${c.i}`);
      }
      if (states[c.i] === "done" && !doneAt.has(c.i)) doneAt.set(c.i, await ranCount(c.i));
    }
  };
  for (let round = 0; round < 8; round++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "run", "--no-progress", "--resume", "-r", results, file],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Any instant will do: the checks below hold wherever the kill lands. It lands while
    // the run works: after a few more combinations ran, plus a random delay.
    const before = (await Deno.readTextFile(ranFile).catch(() => "")).split("\n").length;
    const more = 1 + Math.floor(Math.random() * 5);
    const delay = Math.floor(Math.random() * 20);
    let ended = false;
    child.status.then(() => ended = true);
    await waitFor("the run to progress", async () =>
      ended ||
      (await Deno.readTextFile(ranFile).catch(() => "")).split("\n").length >= before + more);
    await new Promise((r) => setTimeout(r, delay));
    try {
      child.kill("SIGKILL");
    } catch { /* ended already */ }
    await child.status;
    await check(`round ${round} (killed after ${more} more, +${delay} ms)`);
  }
  const last = await dexp(["run", "--no-progress", "--resume", "-r", results, file]);
  assertEquals(last.code, 0, last.stdout + last.stderr);
  await check("final");
  const runDir = await onlyRun(results, "rnd");
  assertEquals(await checkpoint(runDir, combos), combos.map(() => "done"));
  for (const c of combos) {
    assertEquals(await ranCount(c.i), doneAt.get(c.i), `i=${c.i} ran again after done`);
    assert(!(await exists(join(runDir, `i=${c.i}`, ".result.pending.json"))));
  }
});

function hostsCode(tb: Testbed): string {
  const spec = tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
  const params = {
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
  return `hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)})`;
}

/** Pids of the processes (any user) whose command line is exactly `line`. */
async function pgrep(line: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", { args: ["-x", "-f", line] }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l).map(Number);
}

/**
 * Runs an experiment whose command (`sleep N`, unique) runs on `hostsExpr` (this machine if
 * undefined), SIGKILLs `dexp run`, and checks that `dexp run --resume` ends the orphan
 * before the combination runs again, and says so in the log.
 */
async function orphanCase(hostsExpr: string | undefined, label: string): Promise<void> {
  await using tmp = await tempDir();
  const secs = 900_000 + Math.floor(Math.random() * 99_999);
  const sleep = `sleep ${secs}`;
  const release = join(tmp.path, "release");
  const file = join(tmp.path, "orphan.ts");
  await Deno.writeTextFile(
    file,
    `import { experiment, hosts } from ${JSON.stringify(MOD)};
void hosts;
experiment("orphan", { params: { k: [1] }, ${
      hostsExpr ? `hosts: ${hostsExpr}` : ""
    } }, async (ctx) => {
  // Logged once the sleep runs (exec: the shell becomes the sleep).
  await ctx.spawn(${JSON.stringify(`echo up; exec ${sleep}`)}).expect("up");
  ctx.log("started attempt");
  for (;;) {
    try {
      await Deno.stat(${JSON.stringify(release)});
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});
`,
  );
  const results = join(tmp.path, "res");
  const spawn = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "run", "--no-progress", "-r", results, ...args, file],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const first = spawn([]);
  try {
    await waitFor("the sleep", async () => (await pgrep(sleep)).length === 1);
  } finally {
    first.kill("SIGKILL");
    await first.output();
  }
  try {
    // The dead runner's command outlived it.
    assertEquals((await pgrep(sleep)).length, 1);
    const runDir = await onlyRun(results, "orphan");
    const log = join(runDir, "k=1", "log.txt");
    const starts = async () =>
      ((await Deno.readTextFile(log).catch(() => "")).match(/started attempt/g) ?? []).length;
    // The kill may have come before the first attempt logged its line.
    const before = await starts();
    const second = spawn(["--resume"]);
    let out: Deno.CommandOutput | undefined;
    let ended = false;
    second.status.then(() => ended = true);
    try {
      await waitFor("the second attempt", async () => ended || await starts() === before + 1);
      if (ended) {
        out = await second.output();
        const d = new TextDecoder();
        throw new Error(
          `The resumed run ended early: ${d.decode(out.stdout)}${d.decode(out.stderr)}`,
        );
      }
      const now = await pgrep(sleep);
      assertEquals(now.length, 1, `two attempts' sleeps at once: ${now}`);
      await Deno.writeTextFile(release, "");
      out = await second.output();
      const text = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, text + new TextDecoder().decode(out.stderr));
      const took = `took over from a previous owner: ended 1 leftover process(es) on ${label}`;
      assertStringIncludes(text, `[k=1] ${took}\n`);
      const comboLog = await Deno.readTextFile(log);
      assert(comboLog.indexOf(took) < comboLog.lastIndexOf("started attempt"), comboLog);
      await waitFor("the end of every sleep", async () => (await pgrep(sleep)).length === 0);
    } finally {
      if (!out) {
        second.kill("SIGKILL");
        await second.output();
      }
    }
  } finally {
    // Whatever happened, no sleep of this test outlives it.
    for (const pid of await pgrep(sleep)) Deno.kill(pid, "SIGKILL");
  }
}

sshTest(
  "--resume after a SIGKILL ends the dead attempt's remote command before running again",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await orphanCase(hostsCode(tb), "h1");
  },
);

Deno.test("--resume after a SIGKILL ends the dead attempt's local command before running again", async () => {
  await orphanCase(undefined, "local");
});
