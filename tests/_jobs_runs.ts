/**
 * What the tests of detached jobs inside experiments share (jobs_runner_test.ts and
 * jobs_resume_test.ts): an experiment file with a detached job written for a test, `dexp run`
 * started and stopped as a child program, and what the job left on the host.
 *
 * @module
 */
import { join } from "node:path";
import { assertEquals, waitFor } from "./assert.ts";
import { homeOf, type Testbed } from "./harness/sshd.ts";
export { sessionProcs } from "./harness/_proc.ts";

export const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
export const CONFIG = new URL("../deno.json", import.meta.url).pathname;
export const MOD = new URL("../mod.ts", import.meta.url).href;
export const dec = new TextDecoder();

export { readLines as lines } from "./assert.ts";

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

export interface Setup {
  dir: string;
  file: string;
  results: string;
  marks: string;
  counter: string;
  go: string;
  root: string;
  abs: string;
}

export interface ExpOptions {
  /** The testbed and user (default: the experiment's default hosts, this machine). */
  tb?: Testbed;
  user?: string;
  /** `wait()` (a failed or lost job fails the attempt) instead of `result()`. */
  wait?: boolean;
}

/** The env variable whose value, when set, is the job's `bootIdFile` (a FIFO holds a start). */
export const BOOT_ENV = "DEXP_T_BOOT_ID_FILE";

/**
 * Makes a scratch folder and writes an experiment whose one combination runs a short
 * command, then detaches `job` on its hosts, appends the runner's pid to `marks` once
 * `ctx.detach()` returned, and records what the job gave in `seen.json`.
 */
export async function setup(job: (s: Setup) => string, o: ExpOptions = {}): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-jobs-runner-" });
  await Deno.chmod(dir, 0o755);
  const name = `.dexp-test-jobs-${crypto.randomUUID().slice(0, 8)}`;
  const s: Setup = {
    dir,
    file: join(dir, "exp.ts"),
    results: join(dir, "res"),
    marks: join(dir, "marks"),
    counter: join(dir, "counter"),
    go: join(dir, "go"),
    root: o.tb ? `~/${name}` : join(dir, name),
    abs: o.tb ? `${await homeOf(o.user!)}/${name}` : join(dir, name),
  };
  await Deno.writeTextFile(s.counter, "");
  await Deno.chmod(s.counter, 0o666);
  await writeExperiment(s, job(s), o);
  return s;
}

/** (Re)writes the experiment file of `setup()` with the job command `job`. */
export async function writeExperiment(s: Setup, job: string, o: ExpOptions = {}): Promise<void> {
  let hostsExpr = "undefined";
  if (o.tb) {
    const spec = o.tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
    const params = {
      user: o.user,
      keyfile: o.tb.keyfile,
      knownHosts: o.tb.knownHosts,
      strictHostKeyChecking: "yes",
    };
    hostsExpr = `hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)})`;
  }
  await Deno.writeTextFile(
    s.file,
    `import { experiment, hosts } from ${JSON.stringify(MOD)};
void hosts;
const n = ${hostsExpr};
experiment("dj", { params: { k: [1] }, ...(n ? { hosts: n } : {}) }, async (ctx) => {
  // An attached command first: its owner record makes --resume run the take-back.
  await ctx.spawn("true");
  const boot = Deno.env.get(${JSON.stringify(BOOT_ENV)});
  const g = await ctx.detach(${JSON.stringify(job)}, { name: "dj", root: ${
      JSON.stringify(s.root)
    }, ...(boot ? { bootIdFile: boot } : {}) });
  await Deno.writeTextFile(${JSON.stringify(s.marks)}, Deno.pid + "\\n", { append: true });
  const r = await g.${o.wait ? "wait" : "result"}({ interval: 100 });
  await ctx.writeJson("seen.json", { code: r.results[0].exitCode, out: r.results[0].stdout });
});
`,
  );
}

/** Waits for `cond` while `child` runs; fails with the child's output if it ends first. */
export async function whileRunning(
  child: Deno.ChildProcess,
  what: string,
  cond: () => Promise<boolean>,
): Promise<void> {
  let ended = false;
  child.status.then(() => ended = true);
  await waitFor(what, async () => ended || await cond() || undefined, { deadline: 90_000 });
  if (ended && !(await cond())) {
    const o = await child.output();
    throw new Error(
      `dexp run ended (code ${o.code}) before ${what}: ${dec.decode(o.stdout)}${
        dec.decode(o.stderr)
      }`,
    );
  }
}

/** SIGKILLs a child unless it ended, and reaps it. */
export async function reap(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* ended already */ }
  await child.output().catch(() => {});
}

export function spawn(
  s: Setup,
  args: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${CONFIG}`,
      MAIN,
      "run",
      "--no-progress",
      "-r",
      s.results,
      ...args,
      s.file,
    ],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

export async function runDirOf(s: Setup): Promise<string> {
  const exp = join(s.results, "dj");
  for await (const e of Deno.readDir(exp)) if (e.isDirectory) return join(exp, e.name);
  throw new Error("no run folder");
}

/** The only job folder under the test's root, its session id and its supervisor's pid. */
export async function theJob(s: Setup): Promise<{ id: string; sid: number; sup: number }> {
  const ids: string[] = [];
  for await (const e of Deno.readDir(s.abs)) {
    if (e.isDirectory && !e.name.startsWith(".")) ids.push(e.name);
  }
  assertEquals(ids.length, 1, `job folders: ${ids}`);
  const pid = (await Deno.readTextFile(`${s.abs}/${ids[0]}/pid`)).trim().split(" ").map(Number);
  return { id: ids[0], sid: pid[0], sup: pid[2] };
}

export async function cleanup(s: Setup): Promise<void> {
  await Deno.remove(s.abs, { recursive: true }).catch(() => {});
  await Deno.remove(s.dir, { recursive: true }).catch(() => {});
}
