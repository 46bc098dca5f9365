// The dexp command where a terminal or a second process is involved: `dexp log -f` following
// a run that is still going, the live display on a pseudo-terminal (script(1)), and the CLI
// installed as a command with `deno install -g`.
import { dirname, join, resolve } from "node:path";
import { toFileUrl } from "../src/cli/_common_verb.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  tempDir,
  waitFor,
} from "./assert.ts";

const ROOT = resolve(import.meta.dirname!, "..");
const MAIN = join(ROOT, "src", "cli", "main.ts");
const ENGINE = toFileUrl(join(ROOT, "src", "engine", "mod.ts"));
const VERSION: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).version;
/** Only a safety net so that a broken build fails instead of hanging: waits are on conditions. */
const PATIENCE = 20_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a stream to its end in the background; `until` waits for what has come so far. */
class Collector {
  text = "";
  closed = false;
  readonly done: Promise<string>;
  #wake: (() => void) | undefined;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const d = new TextDecoder();
      for await (const chunk of stream) {
        this.text += d.decode(chunk, { stream: true });
        this.#wake?.();
      }
      this.text += d.decode();
      this.closed = true;
      this.#wake?.();
      return this.text;
    })();
  }

  async until(pred: (text: string) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + PATIENCE;
    while (!pred(this.text)) {
      if (this.closed) throw new Error(`Output ended before ${what}: ${JSON.stringify(this.text)}`);
      if (Date.now() > deadline) {
        throw new Error(`Gave up waiting for ${what}: ${JSON.stringify(this.text)}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      const timer = setTimeout(resolve, 100);
      await promise;
      clearTimeout(timer);
    }
  }
}

/** A spawned process with both outputs collected; `exited` turns true once it has ended. */
class Proc {
  readonly child: Deno.ChildProcess;
  readonly out: Collector;
  readonly err: Collector;
  exited = false;

  constructor(
    cmd: string,
    args: string[],
    options: { env?: Record<string, string>; cwd?: string },
  ) {
    this.child = new Deno.Command(cmd, {
      args,
      env: options.env,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.out = new Collector(this.child.stdout);
    this.err = new Collector(this.child.stderr);
    this.child.status.then(() => this.exited = true);
  }

  /** Waits for the end (at most the safety net) and both outputs. */
  async result(): Promise<{ code: number; stdout: string; stderr: string }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("Gave up waiting for the process to end")),
        PATIENCE,
      );
    });
    try {
      const [status, stdout, stderr] = await Promise.race([
        Promise.all([this.child.status, this.out.done, this.err.done]),
        late,
      ]);
      return { code: status.code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process if it still runs (after a failed assertion), then reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* ended meanwhile */ }
    }
    await Promise.all([this.child.status, this.out.done, this.err.done]);
  }
}

function dexp(args: string[], env: Record<string, string> = {}): Proc {
  return new Proc(Deno.execPath(), ["run", "-A", MAIN, ...args], {
    env: { NO_COLOR: "1", ...env },
  });
}

/** Quotes a word for a POSIX shell. */
function q(s: string): string {
  return /^[\w./=:@%+,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Writes an experiment whose combinations log a line, wait for `<dir>/release`, log another
 * line and end; combination `k=b` then fails.
 */
async function writeFixture(dir: string, name: string, ks: string[]): Promise<string> {
  const path = join(dir, `${name}.ts`);
  await Deno.writeTextFile(
    path,
    `import { experiment } from ${JSON.stringify(ENGINE)};
const release = ${JSON.stringify(join(dir, "release"))};
experiment(${JSON.stringify(name)}, { params: { k: ${JSON.stringify(ks)} } }, async (ctx, p) => {
  ctx.log(\`working on \${p.k}\`);
  for (;;) {
    try {
      await Deno.stat(release);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  ctx.log(\`released \${p.k}\`);
  if ((p.k as string) === "b") throw new Error("b fails");
});
`,
  );
  return path;
}

async function onlyEntry(dir: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) names.push(e.name);
  if (names.length !== 1) throw new Error(`Expected one run in '${dir}': found ${names}`);
  return join(dir, names[0]);
}

Deno.test("'dexp log -f' follows a running run and combination, and stops when they end", async () => {
  await using tmp = await tempDir();
  const results = join(tmp.path, "res");
  const fixture = await writeFixture(tmp.path, "follow", ["a"]);
  await using run = dexp(["run", "--no-progress", "-r", results, fixture]);
  await waitFor("the run's folder", async () => {
    try {
      return (await onlyEntry(join(results, "follow"))) !== undefined;
    } catch {
      return false;
    }
  }, { deadline: PATIENCE });
  const runDir = await onlyEntry(join(results, "follow"));
  const comboLog = join(runDir, "k=a", "log.txt");
  await waitFor("the combination's log", () => exists(comboLog), { deadline: PATIENCE });

  await using combo = dexp(["log", runDir, "k=a", "-f"]);
  await using whole = dexp(["log", "--follow", runDir]);
  await using interrupted = dexp(["log", "-f", runDir, "k=a"]);
  await combo.out.until((t) => t.includes("working on a"), "the first line (combination)");
  await whole.out.until((t) => t.includes("[k=a] working on a"), "the first line (run)");
  await interrupted.out.until((t) => t.includes("working on a"), "the first line (to interrupt)");
  // The combination waits for the release file: nothing more can have come, nobody has ended.
  assert(!(await exists(join(tmp.path, "release"))));
  assert(!combo.out.text.includes("released a") && !whole.out.text.includes("released a"));
  assert(!combo.exited && !whole.exited && !interrupted.exited && !run.exited);

  // Ctrl-C stops following (documented), with exit status 0, before the run ends.
  interrupted.child.kill("SIGINT");
  const stopped = await interrupted.result();
  assertEquals(stopped.code, 0, stopped.stderr);
  assert(!run.exited, "the run must still be waiting");
  assertStringIncludes(stopped.stdout, "working on a");
  assert(!stopped.stdout.includes("released a"), stopped.stdout);

  await Deno.writeTextFile(join(tmp.path, "release"), "");
  const [c, w, r] = await Promise.all([combo.result(), whole.result(), run.result()]);
  assertEquals([c.code, w.code, r.code], [0, 0, 0], c.stderr + w.stderr + r.stderr);
  // Both followers printed the whole log, up to the last line written when the run ended.
  assertEquals(c.stdout, await Deno.readTextFile(comboLog));
  assertEquals(w.stdout, await Deno.readTextFile(join(runDir, "log.txt")));
  assertMatch(c.stdout, /working on a\n.*released a\n.* ok in \S+ \(attempt 1\)\n$/);
  assertMatch(
    w.stdout,
    /\[k=a\] working on a\n.*\[k=a\] released a\n(.*\n)*.*experiment follow: 1 ok, 0 failed, 0 remaining\n$/,
  );
});

// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/;
// deno-lint-ignore no-control-regex
const CURSOR = /\x1b\[\d+F\x1b\[J/;

/** Runs `dexp run` under a pseudo-terminal (script(1)); writes the release file once the output satisfies `ready`. */
async function onTerminal(
  tmp: string,
  dexpArgs: string[],
  setup: string,
  ready: (text: string) => boolean,
): Promise<{ code: number; out: string }> {
  await Deno.remove(join(tmp, "release")).catch(() => {});
  const cmd = [Deno.execPath(), "run", "-A", MAIN, "run", ...dexpArgs].map(q).join(" ");
  await using script = new Proc("script", ["-q", "-e", "-c", `${setup} exec ${cmd}`, "/dev/null"], {
    cwd: tmp,
  });
  await script.out.until((t) => ready(t.replaceAll("\r\n", "\n")), "the live display");
  await Deno.writeTextFile(join(tmp, "release"), "");
  const r = await script.result();
  assertEquals(r.stderr, "");
  // The terminal turns \n into \r\n.
  return { code: r.code, out: r.stdout.replaceAll("\r\n", "\n") };
}

Deno.test("on a terminal, 'dexp run' shows a live display: bar, counts, combinations", async () => {
  const which = await new Deno.Command("script", {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  })
    .output().catch(() => undefined);
  assert(which?.success, "script(1) from util-linux is needed (apt-get install util-linux)");
  await using tmp = await tempDir();
  const fixture = await writeFixture(tmp.path, "live", ["a", "b", "c"]);
  const args = ["-j", "3", "-r", join(tmp.path, "res"), fixture];
  const busy = (t: string) =>
    t.includes("0 done, 0 failed, 3 left") &&
    ["a", "b", "c"].every((k) => new RegExp(`#\\d k=${k} \\| working on ${k}`).test(t));

  // Colours (NO_COLOR unset), and a terminal whose size was never set: 80 columns assumed.
  const colour = await onTerminal(tmp.path, args, "unset NO_COLOR;", busy);
  assertEquals(colour.code, 1, colour.out);
  assertMatch(colour.out, /live \[-+\] {3}0% 0 done, 0 failed, 3 left, elapsed/);
  // deno-lint-ignore no-control-regex
  assertMatch(colour.out, /live \[#+\] 100% 2 done, \x1b\[31m1 failed\x1b\[0m, 0 left, elapsed/);
  assertMatch(colour.out, CURSOR);
  assertStringIncludes(colour.out, "[k=b] FAILED after 1 attempt(s): b fails\n");
  assertStringIncludes(colour.out, "experiment live: 2 ok, 1 failed, 0 remaining\n");
  // Successful combinations are shown in the display only, not as log lines.
  assert(!colour.out.includes("[k=a] ok in"), colour.out);

  // NO_COLOR: the same display without a colour code; cursor movement remains.
  const plain = await onTerminal(tmp.path, args, "stty cols 200; export NO_COLOR=1;", busy);
  assertEquals(plain.code, 1, plain.out);
  assertMatch(plain.out, /live \[#{30}\] 100% 2 done, 1 failed, 0 left, elapsed \S+, eta \S+/);
  assertMatch(plain.out, CURSOR);
  assertStringIncludes(plain.out, "experiment live: 2 ok, 1 failed, 0 remaining\n");
  assert(!SGR.test(plain.out), JSON.stringify(plain.out));

  // --no-progress: plain log lines even on a terminal, no escape sequence at all.
  const lines = await onTerminal(
    tmp.path,
    ["--no-progress", "-j", "1", "-r", join(tmp.path, "res"), fixture],
    "unset NO_COLOR;",
    (t) => t.includes("[k=a] working on a\n"),
  );
  assertEquals(lines.code, 1, lines.out);
  assert(!lines.out.includes("\x1b"), JSON.stringify(lines.out));
  assertMatch(
    lines.out,
    /^experiment live: 3 combinations, 0 already finished, 1 worker\(s\), results in .*\n\[k=a\] start \(attempt 1\)\n\[k=a\] working on a\n\[k=a\] released a\n\[k=a\] ok in \S+ \(attempt 1\)\n\[k=b\] start/,
  );
  assertMatch(
    lines.out,
    /\[k=c\] ok in \S+ \(attempt 1\)\nexperiment live: 2 ok, 1 failed, 0 remaining\n$/,
  );
});

Deno.test("the CLI installs with 'deno install -g' and runs as a command; 'deno task dexp' runs it", async () => {
  await using tmp = await tempDir();
  const deno = Deno.execPath();
  const run = async (cmd: string, args: string[], cwd: string) => {
    await using p = new Proc(cmd, args, {
      cwd,
      env: { PATH: `${join(tmp.path, "bin")}:${dirname(deno)}:${Deno.env.get("PATH") ?? ""}` },
    });
    return await p.result();
  };
  const install = await run(deno, [
    "install",
    "-g",
    "-A",
    "--root",
    tmp.path,
    "-n",
    "dexp-test",
    "--config",
    join(ROOT, "deno.json"),
    MAIN,
  ], tmp.path);
  assertEquals(install.code, 0, install.stderr);
  const bin = join(tmp.path, "bin", "dexp-test");
  assert(await exists(bin));

  // From outside the repository: the installed command carries its own configuration.
  const version = await run(bin, ["--version"], tmp.path);
  assertEquals([version.code, version.stdout, version.stderr], [0, `dexp ${VERSION}\n`, ""]);
  const dry = await run(
    "dexp-test",
    ["run", "--dry-run", join(ROOT, "examples", "grid.ts")],
    tmp.path,
  );
  assertEquals(dry.code, 0, dry.stderr);
  assertEquals(dry.stdout.trim().split("\n"), [
    "grid__a=1_b=3_to_file=true",
    "grid__a=1_b=3_to_file=false",
    "grid__a=1_b=4_to_file=true",
    "grid__a=1_b=4_to_file=false",
    "grid__a=2_b=3_to_file=true",
    "grid__a=2_b=3_to_file=false",
    "grid__a=2_b=4_to_file=true",
    "grid__a=2_b=4_to_file=false",
  ]);

  const uninstall = await run(deno, ["uninstall", "-g", "--root", tmp.path, "dexp-test"], tmp.path);
  assertEquals(uninstall.code, 0, uninstall.stderr);
  assert(!(await exists(bin)), "uninstall must remove the command");

  const task = await run(deno, ["task", "dexp", "--version"], ROOT);
  assertEquals([task.code, task.stdout], [0, `dexp ${VERSION}\n`], task.stderr);
});
