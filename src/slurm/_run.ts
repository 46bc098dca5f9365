/**
 * Runs a Slurm client command (sbatch, squeue, scontrol, scancel) and captures its output.
 *
 * @module
 */

import { SlurmError } from "./errors.ts";

/** What a Slurm client command returned. */
export interface ClientOutput {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error, trimmed. */
  readonly stderr: string;
}

const dec = new TextDecoder();

/**
 * Runs a Slurm client program with extra environment variables.
 *
 * @param program `sbatch`, `squeue`, ... (or a path).
 * @param args Its arguments.
 * @param env Added to this process's environment (e.g. `SLURM_CONF`).
 * @returns Its exit code and outputs.
 * @throws {SlurmError} `missing` when the program is not installed here.
 */
export async function runClient(
  program: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<ClientOutput> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args: [...args],
      env: { ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw missing(program);
    throw e;
  }
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

/**
 * The error for a Slurm program that is not on this machine.
 *
 * @param program The program.
 * @returns The error.
 */
export function missing(program: string): SlurmError {
  return new SlurmError(
    "missing",
    `Slurm's '${program}' was not found on this machine: run dexp on a login node of the cluster, or install the Slurm client (e.g. apt-get install slurm-client) and point SLURM_CONF at the cluster's slurm.conf`,
  );
}

/** Slurm's `error:` lines, without the program prefix, joined for a message. */
export function slurmMessage(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const errors = lines.filter((l) => /error:/i.test(l)).map((l) =>
    l.replace(/^[a-z]+: (error: )?/i, "")
  );
  return (errors.length > 0 ? errors : lines).join("; ");
}

/**
 * The cluster's partitions, as sinfo lists them (the default one without its `*`).
 *
 * @param env Environment of the Slurm commands.
 * @returns The names, or an empty list when sinfo cannot tell.
 */
export async function listPartitions(env: Readonly<Record<string, string>>): Promise<string[]> {
  try {
    const r = await runClient("sinfo", ["-h", "-o", "%P"], env);
    return r.code === 0
      ? r.stdout.split("\n").map((l) => l.trim().replace(/\*$/, "")).filter(Boolean)
      : [];
  } catch {
    return [];
  }
}

/**
 * The error for a submission that names a partition the cluster does not have.
 *
 * @param partition The partition asked for, if known.
 * @param stderr sbatch's standard error.
 * @param env Environment of the Slurm commands.
 * @returns The error, naming the partitions there are.
 */
export async function unknownPartition(
  partition: string | undefined,
  stderr: string,
  env: Readonly<Record<string, string>>,
): Promise<SlurmError> {
  const known = await listPartitions(env);
  return new SlurmError(
    "partition",
    `Slurm has no partition${partition !== undefined ? ` '${partition}'` : ""}: use one of ${
      known.length > 0 ? known.map((p) => `'${p}'`).join(", ") : "the partitions sinfo lists"
    } (sinfo -s shows them)`,
    { stderr },
  );
}
