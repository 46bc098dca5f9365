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
  quote,
  quoteArgv,
  type Target,
} from "../process/mod.ts";
import { MarkerFilter, newMarker } from "./_marker.ts";

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
}

/**
 * A node of a Slurm allocation. Commands on it run as job steps of the allocation
 * (`srun --overlap`, so steps share the allocation's CPUs); `kill()` and timeouts signal the
 * step with `scancel --signal`, then cancel it.
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
export class SlurmNode implements Target {
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
