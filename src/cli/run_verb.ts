/**
 * `dexp run PATHS...`: imports experiment files and runs their experiments.
 *
 * @module
 */

import {
  ExperimentLoadError,
  loadExperiments,
  planExperiments,
  runExperiments,
  SLURM_RUN_DIR_ENV,
  type SlurmRunOptions,
} from "../engine/mod.ts";
import { fromFileUrl, handleSignals, killEverything, resolve } from "../process/mod.ts";
import { SlurmError } from "../slurm/mod.ts";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp run [options] PATHS...

Imports the experiment files and folders (folders recursively, *.ts files in name order,
skipping *_test.ts and names starting with '_' or '.'), in argument order, and runs every
experiment they register over its parameter combinations, in registration order.

Options:
  -j, --parallel N     Run N combinations of an experiment at once (default 1)
  -f, --filter PAT     Only experiments whose name matches the glob PAT or that have the tag
                       PAT (repeatable: any match)
  -n, --dry-run        List the combinations that would run (experiment__a=1_b=2), run nothing
  -r, --results DIR    Results folder (default ./results)
      --resume         Continue the latest run of each experiment: skip finished combinations;
                       several processes sharing DIR split the remaining work
      --continue RUN   Continue this run folder (<results>/<experiment>/<run-id>)
      --slurm          Submit each experiment's run as one Slurm job array and return at
                       once: the tasks continue the run folder, claiming combinations from
                       its sweep ('dexp status' shows them, 'dexp cancel RUN' cancels them);
                       with --continue RUN, submit another array for that run
      --tasks N        Tasks of the array (default 4)
      --array-throttle K  At most K tasks run at once
      --sbatch "ARGS"  More sbatch arguments, split at spaces (e.g. "--time=1:00:00 -p debug")
      --no-progress    Plain log lines instead of the live display
      --log FILE       Also append the log to FILE
      --notify URL     POST a JSON summary (Slack-compatible) to URL at the end
      --json           Print the plan (--dry-run) or the summary as JSON on stdout
      --no-check       Do not type-check the experiment files first (as 'deno check' does)
  -h, --help           Show this help

Exit status: 0 all combinations succeeded, 1 some failed, 2 bad usage or experiment file,
130 interrupted (resume with --resume).`;

async function run(argv: string[]): Promise<number> {
  // sbatch arguments start with '-': take the word after --sbatch as its value.
  const args = argv.flatMap((a, i) =>
    a === "--sbatch" && i + 1 < argv.length
      ? []
      : argv[i - 1] === "--sbatch"
      ? [`--sbatch=${a}`]
      : [a]
  );
  const { values: v, positionals } = parse("run", args, {
    parallel: { type: "string", short: "j" },
    filter: { type: "string", short: "f", multiple: true },
    "dry-run": { type: "boolean", short: "n" },
    results: { type: "string", short: "r" },
    resume: { type: "boolean" },
    continue: { type: "string" },
    "no-progress": { type: "boolean" },
    progress: { type: "boolean" },
    log: { type: "string" },
    notify: { type: "string" },
    json: { type: "boolean" },
    "no-check": { type: "boolean" },
    slurm: { type: "boolean" },
    tasks: { type: "string" },
    "array-throttle": { type: "string" },
    sbatch: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError(
      "Missing experiment files: give at least one file or folder, e.g. 'dexp run experiments/'",
    );
  }
  let parallel = 1;
  if (v.parallel !== undefined) {
    parallel = Number(v.parallel);
    if (!Number.isInteger(parallel) || parallel <= 0) {
      throw new UsageError(`'--parallel' must be a positive integer: received '${v.parallel}'`);
    }
  }
  if (v.notify !== undefined) {
    try {
      new URL(v.notify as string);
    } catch {
      throw new UsageError(`'--notify' must be a URL: received '${v.notify}'`);
    }
  }
  if (v.resume && v.continue) {
    throw new UsageError("'--resume' and '--continue' exclude each other: use one");
  }
  const slurm = slurmOptions(v, positionals);
  let experiments;
  try {
    experiments = await loadExperiments(positionals, { check: !v["no-check"] });
  } catch (e) {
    if (e instanceof ExperimentLoadError) throw new UsageError(e.message);
    throw e;
  }
  const filter = v.filter as string[] | undefined;
  if (v["dry-run"]) {
    let plan;
    try {
      plan = planExperiments(experiments, { filter });
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
    if (v.json) console.log(JSON.stringify(plan, null, 2));
    else for (const p of plan) console.log(p.id);
    return 0;
  }
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      console.error(
        "dexp run: interrupted: stopping running combinations (Ctrl-C again to kill them now)",
      );
      ac.abort();
    } else if (interrupts === 2) {
      // Escalate, not abandon: SIGKILL every process (here and on the hosts), then the run
      // ends as after the first interrupt and is recorded as interrupted.
      console.error(
        "dexp run: interrupted again: killing every running process (SIGKILL); Ctrl-C again to quit without recording the run",
      );
      void killEverything();
    } else {
      Deno.exit(130);
    }
  };
  // dexp run stops its own work on a signal (to record it); dexp's default handler would
  // exit before that.
  const previous = handleSignals(false);
  // SIGUSR1: Slurm's signal before a task's time limit (--signal=B:USR1@T).
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1"];
  for (const s of signals) Deno.addSignalListener(s, onSigint);
  try {
    const summary = await runExperiments(experiments, {
      results: v.results as string | undefined,
      parallel,
      resume: v.resume as boolean | undefined,
      continueDir: v.continue as string | undefined,
      filter,
      display: v["no-progress"] ? "plain" : v.progress ? "progress" : "auto",
      logFile: v.log as string | undefined,
      notify: v.notify as string | undefined,
      signal: ac.signal,
      ...(slurm ? { slurm } : {}),
    }).catch((e) => {
      if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
      // Slurm refused or is missing: its message says what to fix; no stack trace.
      if (e instanceof SlurmError) {
        console.error(`dexp run: ${e.message}`);
        return null;
      }
      throw e;
    });
    if (summary === null) return 1;
    if (v.json) console.log(JSON.stringify(summary, null, 2));
    else {
      for (const e of summary.experiments) {
        if (e.slurmArray !== undefined) {
          console.log(
            `Submitted Slurm array ${e.slurmArray} (${slurm?.tasks} tasks) for ${e.runDir}: 'dexp status' follows it, 'dexp cancel ${e.runDir}' cancels it`,
          );
        }
      }
    }
    if (slurm) return summary.experiments.every((e) => e.failed === 0) ? 0 : 1;
    if (summary.interrupted) return 130;
    return summary.ok ? 0 : 1;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSigint);
    handleSignals(previous);
  }
}

function positive(v: string | boolean | string[] | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`'${flag}' must be a positive integer: received '${v}'`);
  }
  return n;
}

// The slurm option of runExperiments from --slurm and its flags: every task runs this dexp
// (same Deno, absolute paths) on the run folder with --continue.
function slurmOptions(
  v: Record<string, string | boolean | string[] | undefined>,
  positionals: string[],
): SlurmRunOptions | undefined {
  if (!v.slurm) {
    for (const f of ["tasks", "array-throttle", "sbatch"]) {
      if (v[f] !== undefined) throw new UsageError(`'--${f}' needs '--slurm'`);
    }
    return undefined;
  }
  if (v["dry-run"]) throw new UsageError("'--slurm' and '--dry-run' exclude each other: use one");
  const tasks = positive(v.tasks, "--tasks") ?? 4;
  const throttle = positive(v["array-throttle"], "--array-throttle");
  const sbatch = typeof v.sbatch === "string" ? v.sbatch.split(/\s+/).filter((a) => a) : [];
  const main = new URL("./main.ts", import.meta.url);
  const cli = main.protocol === "file:" ? fromFileUrl(main) : main.href;
  const files = positionals.map((p) => resolve(p));
  const filters = ((v.filter as string[] | undefined) ?? []).flatMap((f) => ["--filter", f]);
  const conf = Deno.env.get("SLURM_CONF");
  return {
    tasks,
    ...(throttle !== undefined ? { throttle } : {}),
    sbatch,
    ...(conf !== undefined ? { env: { SLURM_CONF: resolve(conf) } } : {}),
    // DEXP_SLURM_RUN_DIR marks the process as a worker task of that folder: its claims name
    // the task's job, and a failed attempt asks Slurm whether the job is being ended.
    command: (runDir) => [
      "env",
      `${SLURM_RUN_DIR_ENV}=${runDir}`,
      Deno.execPath(),
      "run",
      "-A",
      cli,
      "run",
      "--no-check",
      "--no-progress",
      "--continue",
      runDir,
      ...filters,
      ...files,
    ],
  };
}

/** The `run` verb. */
export const runVerb: Verb = {
  run: (args) => guard("run", () => run(args)),
};
