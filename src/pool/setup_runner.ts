/**
 * A machine's setup: its commands (with `{host}`, `{class}` and pool variables filled) run in
 * order as one detached job on the machine, and must all succeed before it joins its class.
 * Machines start staggered; a setup that passes its timeout is killed; every run's output is
 * kept in a log file in the pool directory. On success a fingerprint of the commands is written
 * on the machine (`~/.dexp/setup/KEY`), so the setup runs again only when its commands changed.
 *
 * Start and finish are two steps ({@linkcode startSetup}, {@linkcode finishSetup}) so that a
 * dispatcher can record the job's reference before it waits, and wait again after a restart.
 *
 * @module
 */

import { Hosts } from "../action/mod.ts";
import { fillPlaceholders, quote } from "../process/mod.ts";
import type { Host } from "../ssh/mod.ts";
import {
  attachJobs,
  DEFAULT_JOBS_ROOT,
  detach,
  isNameTaken,
  type Job,
  type JobRef,
  listJobs,
} from "../jobs/mod.ts";
import { writeTextAtomic } from "./dispatch_lock.ts";

/** A machine to set up. */
export interface SetupMachine {
  /** Its name in the pool (also the log folder name). */
  readonly name: string;
  /** The host. */
  readonly host: Host;
  /** Its class. */
  readonly class: string;
  /** The setup commands, with placeholders. */
  readonly commands: readonly string[];
  /** Pool variables for the placeholders (besides `host` and `class`). */
  readonly vars?: Readonly<Record<string, string>>;
}

/** Options of the setup runner. */
export interface SetupOptions {
  /** The folder for logs: `<logDir>/<machine>/<time>.log`. */
  readonly logDir: string;
  /** Fingerprint file name on the machine (default: the class). */
  readonly key?: string;
  /** Run even if the fingerprint matches. */
  readonly force?: boolean;
  /** Time limit of one setup run, in ms (default 10 minutes). */
  readonly timeout?: number;
  /** Time between the starts of two machines, in ms (default 500). */
  readonly stagger?: number;
  /** Poll interval while waiting, in ms (default 500). */
  readonly interval?: number;
  /** The jobs root on the machines (default `~/.dexp/jobs`). */
  readonly jobsRoot?: string;
  /** Called with the job's reference once the setup job started, before waiting for it. */
  readonly onStarted?: (machine: string, ref: JobRef, fingerprint: string) => void | Promise<void>;
  /** Stops waiting (the setup jobs are killed). */
  readonly signal?: AbortSignal;
}

/** The outcome of a machine's setup. */
export interface SetupOutcome {
  /** The machine. */
  readonly machine: string;
  /** `ok` (ran and succeeded), `skipped` (fingerprint matched), `failed`. */
  readonly status: "ok" | "skipped" | "failed";
  /** Why it failed. */
  readonly reason: string | null;
  /** The fingerprint of the filled commands. */
  readonly fingerprint: string;
  /** The log file of this run (null when skipped). */
  readonly log: string | null;
}

/** A setup job that started (or a setup that needs no run). */
export type StartedSetup =
  | { readonly skipped: true; readonly fingerprint: string }
  | {
    readonly skipped: false;
    readonly fingerprint: string;
    readonly ref: JobRef;
    /** A setup of the same commands was running there already: this is it, not started again. */
    readonly adopted?: boolean;
  };

const MARK = "## dexp setup";

/**
 * The commands of a machine's setup with their placeholders filled.
 *
 * @param m The machine.
 * @returns The filled commands.
 * @throws {RangeError} If a command names an unknown placeholder.
 */
export function setupCommands(m: SetupMachine): string[] {
  const vars = { ...m.vars, host: m.host.name, class: m.class };
  return m.commands.map((c) => fillPlaceholders(c, vars));
}

/**
 * The fingerprint of filled setup commands: SHA-256 of their JSON, in hex.
 *
 * @param commands The filled commands.
 * @returns 64 hex digits.
 */
export async function setupFingerprint(commands: readonly string[]): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(JSON.stringify(commands)),
  );
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function checkKey(key: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(key)) {
    throw new TypeError(
      `Setup key must be a word of letters, digits and ._-: received ${JSON.stringify(key)}`,
    );
  }
  return key;
}

function fpFile(key: string): string {
  return `"$HOME"/.dexp/setup/${key}`;
}

/** The remote script: each command in order, stop at the first failure, then the fingerprint. */
function setupScript(commands: readonly string[], key: string, fp: string): string {
  const lines = ["rm -f " + fpFile(key)];
  commands.forEach((c, i) => {
    const tag = `[${i + 1}/${commands.length}]`;
    lines.push(`printf '%s\\n' ${quote(`${MARK} ${tag}: ${c}`)}`);
    lines.push(
      `( ${c}\n) || { s=$?; printf '%s\\n' ${
        quote(`${MARK} ${tag} failed`)
      }" with exit code $s" >&2; exit $s; }`,
    );
  });
  lines.push(
    `mkdir -p "$HOME"/.dexp/setup && printf '%s\\n' ${fp} > ${fpFile(key)}.tmp.$$ && mv -f ${
      fpFile(key)
    }.tmp.$$ ${fpFile(key)}`,
  );
  return lines.join("\n");
}

/**
 * Starts a machine's setup as a detached job, unless the machine's fingerprint says these
 * commands already succeeded there.
 *
 * @param m The machine.
 * @param options Key, force, jobs root.
 * @returns The started job's reference, or that it was skipped.
 * @throws {Error} If the machine cannot be reached or the job not started.
 */
export async function startSetup(
  m: SetupMachine,
  options: Omit<SetupOptions, "logDir"> = {},
): Promise<StartedSetup> {
  const commands = setupCommands(m);
  const fp = await setupFingerprint(commands);
  const key = checkKey(options.key ?? m.class);
  const node = new Hosts([m.host]);
  if (!options.force) {
    const r = await node.run(`cat ${fpFile(key)} 2>/dev/null || true`).quiet().noThrow();
    const res = r.results[0];
    if (!res.ok) {
      throw new Error(
        `Cannot reach machine "${m.name}" for its setup: ${res.reason ?? res.stderr.trim()}`,
      );
    }
    if (res.stdout.trim() === fp) return { skipped: true, fingerprint: fp };
  }
  // One setup of these commands for this key at a time on the machine: the name is claimed
  // on it until the job is forgotten. A second start (a dispatcher restarted before it
  // recorded the first, a second `dexp machine setup`) takes the running one back.
  const root = options.jobsRoot ? { root: options.jobsRoot } : {};
  const name = `setup-${(await setupFingerprint([key, fp])).slice(0, 24)}`;
  for (let tries = 0;; tries++) {
    const g = await detach(
      node.run(setupScript(commands, key, fp)).quiet().noThrow(),
      { name, unique: true, ...root },
    );
    if (g.jobs.length) return { skipped: false, fingerprint: fp, ref: g.refs[0] };
    const f = g.failed[0];
    if (!isNameTaken(f) || tries >= 50) {
      throw new Error(
        `Cannot start the setup of machine "${m.name}": ${f.reason ?? f.failure}${
          isNameTaken(f)
            ? ` (no job of that name shows on the host: remove the claim file ${
              options.jobsRoot ?? DEFAULT_JOBS_ROOT
            }/.names/${name} there if no setup runs)`
            : ""
        }`,
      );
    }
    const [other] = await listJobs(node, { name, ...root });
    if (other?.status.state === "running") {
      return { skipped: false, fingerprint: fp, ref: other.job.ref, adopted: true };
    }
    // Ended and never collected (its program died after it): its name is freed, start anew.
    if (other) await other.job.forget();
    else await new Promise((r) => setTimeout(r, 100)); // Its start has not written its meta yet.
  }
}

/**
 * Waits for a setup job (started now or before a restart), kills it at the timeout, writes its
 * log and tells the outcome.
 *
 * @param machine The machine name.
 * @param ref The setup job.
 * @param fingerprint Its commands' fingerprint.
 * @param options Log folder, timeout (counted from now), poll interval, abort signal.
 * @returns The outcome.
 */
export async function finishSetup(
  machine: string,
  ref: JobRef,
  fingerprint: string,
  options: SetupOptions,
): Promise<SetupOutcome> {
  const job: Job = attachJobs(ref).jobs[0];
  const timeout = options.timeout ?? 600_000;
  const limit = AbortSignal.timeout(timeout);
  const signal = options.signal ? AbortSignal.any([limit, options.signal]) : limit;
  let reason: string | null = null;
  let out = "";
  try {
    const r = await job.result({ interval: options.interval ?? 500, signal });
    out = `${r.stdout}${r.stdout.endsWith("\n") || !r.stdout ? "" : "\n"}${r.stderr}`;
    if (!r.ok) {
      const which = r.stderr.split("\n").reverse().find((l) => l.startsWith(MARK));
      reason = which ? which.slice(MARK.length + 1) : (r.reason ?? `exit code ${r.exitCode}`);
      if (r.failure === "lost") reason = `setup job lost: ${r.reason}`;
    }
  } catch (e) {
    await job.kill("SIGTERM", { grace: 1000 }).catch(() => {});
    const r = await job.result({ interval: 200 }).catch(() => null);
    if (r) out = r.stdout + r.stderr;
    reason = limit.aborted
      ? `setup timed out after ${Math.round(timeout / 1000)} s (killed)`
      : `setup stopped: ${(e as Error).message}`;
  }
  const dir = `${options.logDir}/${machine}`;
  await Deno.mkdir(dir, { recursive: true });
  const log = `${dir}/${new Date().toISOString().replaceAll(":", "-")}-${ref.id}.log`;
  await writeTextAtomic(
    log,
    `# setup of ${machine}, job ${ref.id}, fingerprint ${fingerprint}\n${out}${
      reason ? `\n# FAILED: ${reason}\n` : "\n# OK\n"
    }`,
  );
  return { machine, status: reason ? "failed" : "ok", reason, fingerprint, log };
}

/**
 * Sets up machines: starts are staggered, each waits for its job; one machine failing does not
 * stop the others.
 *
 * @param machines The machines.
 * @param options Log folder, key, force, timeout, stagger, hooks.
 * @returns One outcome per machine, in order.
 */
export function runSetups(
  machines: readonly SetupMachine[],
  options: SetupOptions,
): Promise<SetupOutcome[]> {
  const stagger = options.stagger ?? 500;
  return Promise.all(machines.map(async (m, i): Promise<SetupOutcome> => {
    if (i > 0 && stagger > 0) await new Promise((r) => setTimeout(r, i * stagger));
    let started: StartedSetup;
    try {
      started = await startSetup(m, options);
    } catch (e) {
      return {
        machine: m.name,
        status: "failed",
        reason: (e as Error).message,
        fingerprint: "",
        log: null,
      };
    }
    if (started.skipped) {
      return {
        machine: m.name,
        status: "skipped",
        reason: null,
        fingerprint: started.fingerprint,
        log: null,
      };
    }
    await options.onStarted?.(m.name, started.ref, started.fingerprint);
    const out = await finishSetup(m.name, started.ref, started.fingerprint, options);
    // Its log is in `logDir` now: nothing of it stays on the machine.
    await attachJobs(started.ref).forget().catch(() => {});
    return out;
  }));
}
