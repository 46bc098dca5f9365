/**
 * Job arrays: one `sbatch --array` of worker tasks that each run the same command (a dexp
 * runner that claims combinations from a shared sweep), and `scancel` of the whole array.
 *
 * @module
 */

import { quote } from "../process/mod.ts";
import { runClient, slurmMessage, unknownPartition } from "./_run.ts";
import { slurmTime } from "./allocate.ts";
import { SlurmError } from "./errors.ts";

/** Options of {@linkcode submitArray}. */
export interface SlurmArrayOptions {
  /** Number of worker tasks (`--array=0-(N-1)`), default 4. */
  readonly tasks?: number;
  /** At most this many tasks run at once (`%K`). Default: no limit. */
  readonly throttle?: number;
  /**
   * The signal sent to each task's program before its time limit, `SIG@SECONDS` (default
   * `USR1@60`): the runner stops the current combination cleanly (it goes back to todo).
   */
  readonly signal?: string;
  /** Time limit of each task (`--time`), Slurm's format or a dexp duration. */
  readonly time?: string | number;
  /** Partition (`--partition`). */
  readonly partition?: string;
  /** Job name (`--job-name`), default `dexp`. */
  readonly name?: string;
  /** Where each task's output goes (`--output`, Slurm's `%A`/`%a` patterns). Default /dev/null. */
  readonly output?: string;
  /** More sbatch arguments, as an argv (e.g. `["--account=lab", "--qos=debug"]`). */
  readonly sbatch?: readonly string[];
  /** Environment of the Slurm commands (e.g. `{ SLURM_CONF }`); the tasks inherit it too. */
  readonly env?: Readonly<Record<string, string>>;
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`'${what}' must be a positive integer: received ${String(value)}`);
  }
  return value;
}

/**
 * The sbatch arguments of an array whose tasks run `command` (an argv).
 *
 * @param command The program and its arguments, run by every task (`exec`, so that the
 *   signal before the time limit reaches it).
 * @param options Tasks, throttle, signal, time, partition, more sbatch arguments.
 * @returns The argv after `sbatch`.
 * @throws {RangeError} On bad options.
 * @example
 * ```ts
 * import { arraySbatchArgs } from "./array.ts";
 * import assert from "node:assert";
 * const a = arraySbatchArgs(["echo", "hi"], { tasks: 4, throttle: 2 });
 * assert.ok(a.includes("--array=0-3%2"));
 * ```
 */
export function arraySbatchArgs(
  command: readonly string[],
  options: SlurmArrayOptions = {},
): string[] {
  if (command.length === 0) throw new RangeError("'command' must not be empty: give a program");
  const tasks = positiveInt(options.tasks ?? 4, "tasks");
  const throttle = options.throttle === undefined
    ? ""
    : `%${positiveInt(options.throttle, "throttle")}`;
  const signal = options.signal ?? "USR1@60";
  if (!/^(SIG)?[A-Z0-9]+@\d+$/.test(signal)) {
    throw new RangeError(
      `'signal' must be SIGNAL@SECONDS, e.g. "USR1@60": received ${JSON.stringify(signal)}`,
    );
  }
  const args = [
    "--parsable",
    `--job-name=${options.name ?? "dexp"}`,
    `--array=0-${tasks - 1}${throttle}`,
    "--ntasks=1",
    // Node failures and preemption put a task back in the queue; the sweep gives the
    // combination it held back to todo (its owner died), so nothing runs twice.
    "--requeue",
    // B: the batch shell itself, which the task's program replaces (exec).
    `--signal=B:${signal}`,
    `--output=${options.output ?? "/dev/null"}`,
  ];
  if (options.time !== undefined) args.push(`--time=${slurmTime(options.time)}`);
  if (options.partition !== undefined) args.push(`--partition=${options.partition}`);
  for (const a of options.sbatch ?? []) {
    if (typeof a !== "string") {
      throw new TypeError(`'sbatch' must be an array of sbatch arguments: received ${String(a)}`);
    }
    args.push(a);
  }
  args.push("--wrap", `exec ${command.map((c) => quote(c)).join(" ")}`);
  return args;
}

/** The partition the sbatch arguments ask for (`-p P`, `--partition=P`), if any. */
function partitionOf(args: readonly string[]): string | undefined {
  let found: string | undefined;
  args.forEach((a, i) => {
    if (a === "-p" || a === "--partition") found = args[i + 1];
    else if (a.startsWith("--partition=")) found = a.slice("--partition=".length);
    else if (/^-p./.test(a)) found = a.slice(2);
  });
  return found;
}

/**
 * Submits one job array whose tasks each run `command`, and returns its job id at once.
 *
 * @param command The program and its arguments (absolute paths: the tasks start in the
 *   submission's working directory on their node).
 * @param options Tasks, throttle, signal, time, partition, more sbatch arguments.
 * @returns The array's job id (`12`; its tasks are `12_0`, `12_1`, ...).
 * @throws {RangeError} On bad options.
 * @throws {SlurmError} `missing` without sbatch, `partition` for an unknown partition (naming
 *   the partitions there are), `rejected` when sbatch refuses the array (with its message).
 * @example
 * ```ts ignore
 * import { submitArray } from "@dexp/dexp";
 * const id = await submitArray(["/usr/bin/hostname"], { tasks: 4, throttle: 2 });
 * ```
 */
export async function submitArray(
  command: readonly string[],
  options: SlurmArrayOptions = {},
): Promise<string> {
  const args = arraySbatchArgs(command, options);
  const r = await runClient("sbatch", args, options.env);
  if (r.code !== 0 && /invalid partition/i.test(r.stderr)) {
    throw await unknownPartition(partitionOf(args), r.stderr, options.env ?? {});
  }
  if (r.code !== 0) {
    throw new SlurmError(
      "rejected",
      `sbatch refused the job array: ${
        slurmMessage(r.stderr) || `exit code ${r.code}`
      }: fix the options (sbatch ${args.slice(0, -2).join(" ")})`,
      { stderr: r.stderr },
    );
  }
  const jobId = r.stdout.trim().split(";")[0];
  if (!/^\d+$/.test(jobId)) {
    throw new SlurmError("rejected", `sbatch printed no job id: ${JSON.stringify(r.stdout)}`, {
      stderr: r.stderr,
    });
  }
  return jobId;
}

/**
 * Cancels jobs or arrays (`scancel`); ids Slurm no longer knows are not an error.
 *
 * @param jobIds Job ids, arrays or array tasks (`12`, `12_3`).
 * @param env Environment of scancel (e.g. `{ SLURM_CONF }`).
 * @throws {SlurmError} `missing` without scancel, `query` when scancel fails.
 *
 * @example
 * ```ts ignore
 * // Needs a Slurm cluster, so it is not run by `deno test --doc`.
 * import { cancelJobs, querySlurmJobs, submitArray } from "@dexp/dexp";
 * import { ok } from "node:assert";
 *
 * const jobId = await submitArray(["sleep", "600"], { tasks: 2 });
 * await cancelJobs([jobId]);
 * await cancelJobs([jobId]); // an id Slurm no longer knows is not an error
 * ok((await querySlurmJobs([jobId])).size >= 0);
 * ```
 */
export async function cancelJobs(
  jobIds: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<void> {
  if (jobIds.length === 0) return;
  const r = await runClient("scancel", [...jobIds], env);
  if (r.code !== 0 && !/Invalid job id|already completing or completed/i.test(r.stderr)) {
    throw new SlurmError("query", `scancel failed: ${slurmMessage(r.stderr)}`, {
      stderr: r.stderr,
    });
  }
}
