/**
 * `detach(nodes.run(cmd), options)`: starts a group command as detached jobs, one per target,
 * each under a small POSIX sh supervisor on its host, and returns as soon as every host
 * confirmed its start.
 *
 * Why a function and not a `detach()` method on `GroupCommand`: layers import downward only,
 * and the jobs layer sits above the action layer. A method would need action to know about
 * jobs (an upward import) or a registration hook that jobs fills in at import time (a hidden
 * global, and a method that throws when the jobs module was not imported). A function of the
 * upper layer that takes the lower layer's builder keeps the arrow pointing down and the
 * builder unchanged: every setting of the command (env, cwd, concurrency, noThrow) is read
 * from it.
 *
 * @module
 */

import { GroupError, GroupResult } from "../action/mod.ts";
import type { GroupCommand } from "../action/mod.ts";
import { ProcessResult, quote, quoteArgv, type Target } from "../process/mod.ts";
import { Host } from "../ssh/mod.ts";
import { runScripts } from "./_batch.ts";
import { forgetJobs, Job } from "./job.ts";
import { JobGroup } from "./job_group.ts";
import { isJobHost } from "./job_host.ts";
import { hostOfTarget, type JobRef } from "./job_ref.ts";
import {
  checkJobName,
  checkRemotePath,
  DEFAULT_BOOT_ID_FILE,
  DEFAULT_JOBS_ROOT,
  newJobId,
} from "./names.ts";
import { FAILED, START_FAILURES, STARTED, startScript } from "./supervisor.ts";

/** Options of {@linkcode detach}. */
export interface DetachOptions {
  /** The job name (default `job`): part of the id, and what `listJobs({ name })` matches. */
  readonly name?: string;
  /** The folder on each host that holds the job folders (default `~/.dexp/jobs`). */
  readonly root?: string;
  /** Seconds between heartbeats (default 10). */
  readonly heartbeat?: number;
  /**
   * At most one job of this name ever starts under the root on each host (default false).
   * The start claims the name atomically before it runs anything, and fails ("its name is
   * taken") if a job of that name claimed it first, or if {@linkcode claimJobName} fenced it
   * off. This is what makes a start safe to give up on: a controller that died or lost its
   * connection during a start calls `claimJobName` on the host, and either the job is there,
   * or it never will be. Forgetting the job frees the name.
   */
  readonly unique?: boolean;
  /**
   * Like `unique`, with a claim key of your own (a word like a job name) instead of the name:
   * for jobs of one name that must be told apart by who started them (an attempt, say).
   * `claimJobName(host, key)` settles such a start.
   */
  readonly claim?: string;
  /**
   * FOR TESTS: the file on the host that holds the boot id (default
   * `/proc/sys/kernel/random/boot_id`). A test points it at a file it can change, to make
   * the host look rebooted.
   */
  readonly bootIdFile?: string;
}

function commandScript(
  command: string | readonly string[],
  env: Readonly<Record<string, string>>,
  cwd: string | undefined,
  id: string,
): string {
  // One line of settings, then the command on lines of its own (it may end in a comment).
  const lines = [`DEXP_JOB_ID=${quote(id)}`, "export DEXP_JOB_ID"];
  if (cwd !== undefined) lines.push(`cd -- ${quote(cwd)} || exit 1`);
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new TypeError(`Environment variable name ${JSON.stringify(k)} is not valid`);
    }
    lines.push(`${k}=${quote(v)}`, `export ${k}`);
  }
  return `${lines.join(";")}\n${typeof command === "string" ? command : quoteArgv(command)}`;
}

/**
 * Starts a group command as detached jobs: on each target, under a supervisor in its own
 * session, output to files, exit status recorded atomically. The jobs outlive this program;
 * keep `group.refs` (JSON) to take them back with {@linkcode attachJobs}.
 *
 * Targets: ssh hosts, local slots, and the nodes of a Slurm allocation (`alloc.run(cmd)`, a
 * target that implements `JobHost`). On an allocation node the job runs over srun,
 * without ssh: its supervisor stays in the foreground of a job step whose local `srun` client
 * runs in a session of its own (log in `~/.cache/dexp/slurm-jobs/`). The allocation owns the
 * step: when it is released or ends, the job ends too (state `lost`, reason `owner ended`);
 * and if this machine goes down, its srun client dies and the job with it. A job that must
 * outlive this machine needs ssh hosts (`await alloc.ssh()`).
 *
 * If a target cannot start its job, the jobs that did start are killed and removed, and the
 * call rejects with a {@linkcode GroupError} that has every target's start result; under
 * `noThrow()` it resolves instead, with the failures in `group.failed`.
 *
 * @param command A group command: `nodes.run(cmd)` or `local(n).run(cmd)`, with its env and
 *   cwd. Output handlers, files and timeouts do not apply to detached jobs.
 * @param options Job name, jobs root, heartbeat interval.
 * @returns The started jobs.
 * @throws {TypeError} For a bad name, root, stdin or timeout.
 * @throws {GroupError} If a target could not start its job (unless `noThrow()`).
 *
 * @example
 * ```ts ignore
 * import { detach, hosts } from "@dexp/dexp";
 * const nodes = hosts("n1", "n2");
 * const jobs = await detach(nodes.run("./train.sh"), { name: "train" });
 * await Deno.writeTextFile("jobs.json", JSON.stringify(jobs.refs));
 * const r = await jobs.wait(); // a GroupResult, as for an attached command
 * ```
 */
export async function detach<T extends Target>(
  command: GroupCommand<T>,
  options: DetachOptions = {},
): Promise<JobGroup> {
  const name = checkJobName(options.name ?? "job");
  let claim: string | undefined;
  if (options.claim !== undefined) {
    try {
      claim = checkJobName(options.claim);
    } catch (e) {
      throw new TypeError(`'claim': ${(e as Error).message.replace(/^Job name/, "the key")}`);
    }
  } else if (options.unique === true) claim = name;
  const root = checkRemotePath(options.root ?? DEFAULT_JOBS_ROOT, "'root'");
  const bootIdFile = checkRemotePath(options.bootIdFile ?? DEFAULT_BOOT_ID_FILE, "'bootIdFile'");
  if (bootIdFile.startsWith("~")) {
    throw new TypeError(`'bootIdFile' must be an absolute path: received "${bootIdFile}"`);
  }
  const heartbeat = options.heartbeat ?? 10;
  if (!Number.isInteger(heartbeat) || heartbeat <= 0) {
    throw new RangeError(`'heartbeat' must be a positive integer (seconds): received ${heartbeat}`);
  }
  const s = command.settings;
  if (s.stdin !== "null") {
    throw new TypeError("A detached job reads no standard input: remove stdin() from the command");
  }
  if (s.timeout !== undefined) {
    throw new TypeError(
      "timeout() does not apply to a detached job: put 'timeout SECS' in the command, or kill() the job",
    );
  }
  const targets = command.targets;
  const hostsOf = targets.map(hostOfTarget); // Rejects transfer targets early.
  const at = new Date();
  const ids = targets.map(() => newJobId(name, at));
  const scripts = targets.map((t, i) => {
    const c = typeof command.input === "function" ? command.input(t, i) : command.input;
    return startScript({
      root,
      id: ids[i],
      name,
      bootIdFile,
      heartbeat,
      command: commandScript(c, s.env, s.cwd, ids[i]),
      display: typeof c === "string" ? c : quoteArgv(c),
      loginShell: t instanceof Host,
      created: at.getTime(),
      foreground: isJobHost(t),
      claim,
    });
  });
  const results = await startAll(targets, scripts, ids, command.group.concurrency);
  const jobs: Job[] = [];
  const starts: ProcessResult[] = [];
  const failed: ProcessResult[] = [];
  // Starts that ran on the host but did not confirm, nor say why: what they left (a temporary
  // folder, or a job whose confirm was lost) is removed.
  const unconfirmed: Job[] = [];
  results.forEach((r, i) => {
    const line = r.stdout.split("\n").find((l) => l.startsWith(STARTED + " "));
    if (r.ok && line) {
      const ref: JobRef = { v: 1, host: hostsOf[i], id: ids[i], root };
      jobs.push(new Job(ref, targets[i]));
      starts.push(r);
      return;
    }
    const code = r.stdout.split("\n").find((l) => l.startsWith(FAILED + " "))?.slice(
      FAILED.length + 1,
    );
    const why = code === undefined ? undefined : START_FAILURES[code] ?? code;
    if (!why && r.failure !== "connect") {
      unconfirmed.push(new Job({ v: 1, host: hostsOf[i], id: ids[i], root }, targets[i]));
    }
    const f = r.ok || why
      ? new ProcessResult({
        ...fieldsOf(r),
        exitCode: r.exitCode ?? 1,
        failure: "spawn",
        reason: `Could not start the detached job: ${
          why ?? "the supervisor did not confirm the start"
        }`,
      })
      : r;
    starts.push(f);
    failed.push(f);
  });
  if (unconfirmed.length) await forgetJobs(unconfirmed).catch(() => {});
  if (failed.length > 0 && !s.noThrow) {
    if (jobs.length) await forgetJobs(jobs).catch(() => {});
    throw new GroupError(new GroupResult(starts));
  }
  return new JobGroup(jobs, failed);
}

/**
 * Runs the start scripts: through the group API, or by the target itself for a
 * {@linkcode JobHost} (whose start must outlive this program).
 */
async function startAll(
  targets: readonly Target[],
  scripts: readonly string[],
  ids: readonly string[],
  concurrency: number,
): Promise<ProcessResult[]> {
  const plain = targets.flatMap((t, i) => isJobHost(t) ? [] : [i]);
  const own = targets.flatMap((t, i) => isJobHost(t) ? [i] : []);
  const out: ProcessResult[] = new Array(targets.length);
  await Promise.all([
    runScripts(plain.map((i) => targets[i]), plain.map((i) => scripts[i]), 1024 * 1024, concurrency)
      .then((rs) => rs.forEach((r, k) => out[plain[k]] = r)),
    ...own.map(async (i) => {
      const t = targets[i];
      if (isJobHost(t)) out[i] = await t.startDetached(scripts[i], ids[i]);
    }),
  ]);
  return out;
}

/**
 * Whether a start of `detach(..., { unique: true })` failed because its name is taken on the
 * host (a job of that name started there, or the name was fenced off).
 *
 * @param r The start's result (from `GroupError.result` or `group.failed`).
 * @returns `true` for that failure.
 */
export function isNameTaken(r: ProcessResult): boolean {
  return r.failure === "spawn" && (r.reason ?? "").endsWith(START_FAILURES.taken);
}

/**
 * Whether a failed start reported, from the host, that it stopped before running anything
 * (no jobs folder, a name taken, ...): unlike a start whose confirmation was lost, nothing of
 * it can still run.
 *
 * @param r The start's result (from `GroupError.result` or `group.failed`).
 * @returns `true` if the host said why the start failed.
 */
export function startRanNothing(r: ProcessResult): boolean {
  const reason = r.reason ?? "";
  return r.failure === "spawn" && Object.values(START_FAILURES).some((w) => reason.endsWith(w));
}

function fieldsOf(r: ProcessResult): ConstructorParameters<typeof ProcessResult>[0] {
  return {
    target: r.target,
    command: r.command,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutBytes: r.stdoutBytes,
    stderrBytes: r.stderrBytes,
    start: r.start,
    end: r.end,
    timedOut: r.timedOut,
    killed: r.killed,
    failure: r.failure,
    reason: r.reason,
  };
}
