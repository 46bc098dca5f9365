/**
 * One node of a Slurm allocation as a dexp target: its commands run as job steps through
 * `srun --jobid=J --overlap -w NODE -N1 -n1`, without ssh.
 *
 * @module
 */

import {
  type FailureKind,
  type Launch,
  LaunchError,
  type LaunchSpec,
  ProcessResult,
  quote,
  quoteArgv,
} from "../process/mod.ts";
import { JOB_FAILED_LINE, JOB_STARTED_LINE, type JobHost, type SlurmJobHost } from "../jobs/mod.ts";
import { MarkerFilter, newMarker } from "./_marker.ts";
import { runClient } from "./_run.ts";
import { type ClientId, defaultClientsDir, endClient, startClient } from "./_srun_client.ts";
import { slurmOutcome } from "./state.ts";

/** Most time a `scancel` of a step may take before it is given up. */
const SCANCEL_DEADLINE = 10_000;

/**
 * The allocation's shared state, as its nodes see it. Internal: made by `slurmAllocate()`.
 *
 * @internal
 */
export interface AllocationState {
  /** The job id of the allocation. */
  readonly jobId: string;
  /** Environment of every Slurm command (e.g. `SLURM_CONF`). */
  readonly env: Readonly<Record<string, string>>;
  /** Why commands can no longer start (released, ended), or null while they can. */
  closed: string | null;
  /**
   * The folder (on this machine) of the logs of the `srun` clients that hold detached jobs
   * (default `~/.cache/dexp/slurm-jobs`).
   */
  clients?: string;
  /** The srun clients of detached jobs started by this program (release waits for them). */
  started?: Set<ClientId>;
}

/**
 * A node of a Slurm allocation. Commands on it run as job steps of the allocation
 * (`srun --overlap`, so steps share the allocation's CPUs); `kill()` and timeouts signal the
 * step with `scancel --signal`, then cancel it.
 *
 * Detached jobs (`detach(alloc.run(cmd))`) run on it without ssh: each job's supervisor runs
 * in the foreground of a step of its own, held by a local `srun` client that runs in its own
 * session (output to a private log in `~/.cache/dexp/slurm-jobs/`), so the job outlives this
 * program. The allocation owns its steps: when it is released or ends, its detached jobs end
 * with it (their state is then `lost`, reason `owner ended`). A job also ends when its srun
 * client dies, e.g. when this machine goes down: for jobs that must survive the machine that
 * started them, use `alloc.ssh()`.
 *
 * @example
 * ```ts ignore
 * // Needs a Slurm cluster, so it is not run by `deno test --doc`.
 * import { slurmAllocate } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * await using nodes = await slurmAllocate({ nodes: 1, time: "10m" });
 * const [node] = nodes;
 * strictEqual(await node.run("echo $SLURM_JOB_ID").text(), nodes.jobId);
 * ```
 */
export class SlurmNode implements JobHost {
  /** The node's name, as Slurm calls it. */
  readonly label: string;
  /** The node's name, as Slurm calls it. */
  readonly name: string;
  /** CPUs the allocation has on this node, or null when not known. */
  readonly cpus: number | null;
  readonly #alloc: AllocationState;

  /**
   * Makes the target; `slurmAllocate()` does it for you.
   *
   * @param name The node's name.
   * @param cpus CPUs of the allocation on this node (given to each step), or null.
   * @param alloc The allocation's shared state.
   * @internal
   */
  constructor(name: string, cpus: number | null, alloc: AllocationState) {
    this.label = name;
    this.name = name;
    this.cpus = cpus;
    this.#alloc = alloc;
  }

  /** The allocation's job id. */
  get jobId(): string {
    return this.#alloc.jobId;
  }

  /** The host part of the references of detached jobs on this node. */
  get jobHost(): SlurmJobHost {
    const a = this.#alloc;
    return {
      slurm: {
        jobId: a.jobId,
        node: this.name,
        cpus: this.cpus,
        env: { ...a.env },
        clients: a.clients ??= defaultClientsDir(),
      },
    };
  }

  /**
   * Starts a detached job's start script as a step whose `srun` client outlives this
   * program; returns once the supervisor confirmed, or srun ended without it (then the
   * client's log is removed, and the result says what srun said).
   *
   * @param script The start script (supervisor in the foreground).
   * @param id The job id.
   * @returns The start's result.
   */
  async startDetached(script: string, id: string): Promise<ProcessResult> {
    const a = this.#alloc;
    const begin = new Date();
    const result = (f: {
      exitCode: number | null;
      stdout: string;
      failure: FailureKind | null;
      reason?: string;
    }) =>
      new ProcessResult({
        target: this.label,
        command: `<start of detached job ${id}>`,
        exitCode: f.exitCode,
        signal: null,
        stdout: f.stdout,
        stderr: "",
        stdoutBytes: f.stdout.length,
        stderrBytes: 0,
        start: begin,
        end: new Date(),
        timedOut: false,
        killed: false,
        failure: f.failure,
        reason: f.reason ?? null,
      });
    if (a.closed !== null) {
      return result({
        exitCode: null,
        stdout: "",
        failure: "connect",
        reason: `Cannot start on ${this.name}: the Slurm allocation ${a.jobId} ${a.closed}`,
      });
    }
    const dir = this.jobHost.slurm.clients;
    let s;
    try {
      s = await startClient(dir, id, this.srunArgs(script), a.env, [
        JOB_STARTED_LINE,
        JOB_FAILED_LINE,
      ]);
    } catch (e) {
      return result({ exitCode: null, stdout: "", failure: "spawn", reason: (e as Error).message });
    }
    const lines = s.output.split("\n");
    const started = lines.some((l) => l.startsWith(JOB_STARTED_LINE + " "));
    if (started && s.running && s.client !== null) {
      (a.started ??= new Set()).add(s.client);
      return result({ exitCode: 0, stdout: s.output, failure: null });
    }
    // Not started: wait for the client to end, then leave no log behind.
    await endClient(dir, id, true, 10_000);
    if (lines.some((l) => l.startsWith(JOB_FAILED_LINE + " "))) {
      return result({ exitCode: 1, stdout: s.output, failure: "exit" });
    }
    const c = classifyStep(a, this.name, false, 1, s.output);
    return result({
      exitCode: null,
      stdout: s.output,
      failure: "connect",
      reason: c?.reason ??
        `srun ended before the detached job confirmed its start on ${this.name}: ${
          s.output.trim() || "(no output)"
        }`,
    });
  }

  /**
   * Waits until the srun clients of these ended jobs have ended; with `remove`, removes
   * their logs.
   *
   * @param ids The job ids.
   * @param remove Remove the logs.
   */
  async endDetached(ids: readonly string[], remove: boolean): Promise<void> {
    const dir = this.jobHost.slurm.clients;
    await Promise.all(ids.map((id) => endClient(dir, id, remove)));
  }

  /**
   * Why no job can run on this node any more: the allocation was released, or Slurm says it
   * has ended; null while it runs or when Slurm cannot be asked.
   *
   * @returns The reason, or null.
   */
  async jobsEnded(): Promise<string | null> {
    const a = this.#alloc;
    if (a.closed !== null) return `the Slurm allocation ${a.jobId} ${a.closed}`;
    let r;
    try {
      r = await runClient("squeue", ["-h", "-j", a.jobId, "-t", "all", "-o", "%T|%r"], a.env);
    } catch {
      return null;
    }
    if (r.code !== 0) {
      return /Invalid job id/i.test(r.stderr)
        ? `the Slurm allocation ${a.jobId} has ended (Slurm no longer knows it)`
        : null;
    }
    const line = r.stdout.trim().split("\n")[0] ?? "";
    if (line === "") return `the Slurm allocation ${a.jobId} has ended (Slurm no longer lists it)`;
    const [state, reason] = line.split("|");
    const o = slurmOutcome(state, reason, a.jobId);
    return o.final || state === "COMPLETING"
      ? `the Slurm allocation ${a.jobId} has ended: ${o.state}${o.reason ? ` (${o.reason})` : ""}`
      : null;
  }

  /**
   * The srun argv that runs a command on this node (what `launch()` starts).
   *
   * @param script The shell script the step runs under `/bin/sh -c`.
   * @returns The arguments of `srun`.
   */
  srunArgs(script: string): string[] {
    return [
      `--jobid=${this.#alloc.jobId}`,
      "--overlap",
      "-w",
      this.name,
      "-N1",
      "-n1",
      ...(this.cpus !== null ? [`--cpus-per-task=${this.cpus}`] : []),
      "--quiet",
      "/bin/sh",
      "-c",
      script,
    ];
  }

  /**
   * Turns a command into the local `srun` that runs it as a step on this node.
   *
   * @param spec The command.
   * @returns The launch.
   * @throws {LaunchError} When the allocation was released or has ended.
   */
  launch(spec: LaunchSpec): Launch {
    const alloc = this.#alloc;
    if (alloc.closed !== null) {
      throw new LaunchError(
        "connect",
        `Cannot run on ${this.name}: the Slurm allocation ${alloc.jobId} ${alloc.closed}`,
      );
    }
    if (Array.isArray(spec.command) && spec.command.length === 0) {
      throw new LaunchError("spawn", "The argv array is empty: give at least the program");
    }
    const command = typeof spec.command === "string"
      ? spec.command
      : quoteArgv(spec.command as readonly string[]);
    const marker = newMarker("DEXP-STEP");
    const script = [
      `printf '${marker}%s\\n' "$SLURM_STEP_ID" >&2`,
      ...(spec.cwd !== undefined ? [`cd -- ${quote(spec.cwd)} || exit 1`] : []),
      `eval ${quote(command)}`,
    ].join("\n");
    let known: (step: string | null) => void = () => {};
    const stepPromise = new Promise<string | null>((r) => known = r);
    let step: string | null = null;
    let started = false;
    const marks = new MarkerFilter(marker, (value) => {
      started = value !== null;
      step = value !== null && /^\d+$/.test(value) ? `${alloc.jobId}.${value}` : null;
      known(step);
    });
    // srun's stderr ends when srun does.
    let ended: () => void = () => {};
    const srunEnded = new Promise<void>((r) => ended = r);
    const filter = {
      push: (chunk: Uint8Array) => marks.push(chunk),
      flush: () => {
        const rest = marks.flush();
        ended();
        return rest;
      },
    };
    const scancelArgs = (signal: Deno.Signal, id: string) =>
      signal === "SIGKILL" ? [id] : [`--signal=${signal.replace(/^SIG/, "")}`, id];
    const envPrefix = Object.entries(alloc.env).map(([k, v]) => `${k}=${v}`);
    const node = this.name;
    return {
      program: "srun",
      args: this.srunArgs(script),
      // srun exports its environment to the step (--export=ALL).
      env: { ...alloc.env, ...spec.env },
      stderrFilter: filter,
      connection: `slurm:${alloc.jobId}`,
      killArgv(signal: Deno.Signal): string[] | null {
        if (step === null) return null;
        const args = ["scancel", ...scancelArgs(signal, step)];
        return envPrefix.length > 0 ? ["env", ...envPrefix, ...args] : args;
      },
      async terminate(signal: Deno.Signal): Promise<void> {
        const id = await stepPromise;
        if (id === null) return;
        let child: Deno.ChildProcess;
        try {
          child = new Deno.Command("scancel", {
            args: scancelArgs(signal, id),
            env: { ...alloc.env },
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).spawn();
        } catch {
          return; // No scancel: srun got the signal too, and forwards it.
        }
        const timer = setTimeout(() => child.kill("SIGKILL"), SCANCEL_DEADLINE);
        try {
          // scancel --signal of a step exits non-zero on Slurm 22.05 even when it worked.
          await child.status;
        } finally {
          clearTimeout(timer);
        }
        // srun turns a SIGTERM, SIGHUP or SIGQUIT of its own into a SIGKILL of the step: while
        // the step has its grace period, srun must not get the signal. dexp signals the local
        // process after terminate() returns (or after the grace period), so wait here for srun
        // to end with the step.
        if (signal !== "SIGKILL") await srunEnded;
      },
      classify(code: number, stderr: string): { failure: FailureKind; reason: string } | null {
        return classifyStep(alloc, node, started, code, stderr);
      },
    };
  }
}

const CANCELLED =
  /\*\*\* (?:STEP|JOB) (\S+) ON (\S+) CANCELLED AT (\S+)(?: DUE TO ([A-Z_ ]+?))? \*\*\*/;

/**
 * Why a step failed, when Slurm (not the command) is the cause.
 *
 * @param alloc The allocation.
 * @param node The node.
 * @param started Whether the command started (its marker came).
 * @param code srun's exit code.
 * @param stderr srun's standard error.
 * @returns A `connect` failure with the reason, or null for the command's own failure.
 */
export function classifyStep(
  alloc: AllocationState,
  node: string,
  started: boolean,
  code: number,
  stderr: string,
): { failure: FailureKind; reason: string } | null {
  const m = CANCELLED.exec(stderr);
  if (m) {
    const why = m[4] ? m[4].toLowerCase() : "cancelled";
    return {
      failure: "connect",
      reason: `the Slurm allocation ${alloc.jobId} ended while the command ran on ${node}: step ${
        m[1]
      } ${m[4] ? `cancelled due to ${why}` : "cancelled"} at ${
        m[3]
      } (the allocation was cancelled, preempted or reached its time limit, or the step was cancelled with scancel): make a new allocation with slurmAllocate()`,
    };
  }
  if (started || code === 0) return null;
  const lines = stderr.split("\n").filter((l) => /^srun: error:/.test(l)).map((l) =>
    l.replace(/^srun: error: /, "")
  );
  const said = lines.join("; ") || stderr.trim() || `srun exited with code ${code}`;
  const gone = /expired|Invalid job id|already completing or completed|has been revoked/i.test(
    said,
  );
  return {
    failure: "connect",
    reason: gone
      ? `the Slurm allocation ${alloc.jobId} has ended (cancelled, preempted or past its time limit): ${said}: make a new allocation with slurmAllocate()`
      : `srun could not start a step of the Slurm allocation ${alloc.jobId} on ${node}: ${said}`,
  };
}
