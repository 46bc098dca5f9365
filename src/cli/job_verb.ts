/**
 * `dexp job add|matrix add|ls|cancel|hold|unhold|retry|stat`: the job queue of a pool.
 *
 * @module
 */

import { formatDuration } from "../process/mod.ts";
import type { JobFilter, JobState, PoolJob, StatRow, SubmitSpec } from "../pool/mod.ts";
import {
  cell,
  openFromArgs,
  type Parsed,
  parseIds,
  parsePoolArgs,
  poolGuard,
  PoolUsageError,
  positiveInt,
  print,
  table,
} from "./_pool_cli.ts";
import { parseMatrixArgs } from "../pool/mod.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp job <action> [options] ...

Actions:
  add CLASS CMD            Queue a job (-x N: N copies) at the end of its class's queue
  matrix add CLASS CMD K=v1,v2 ...
                           Queue one job per combination of the values (cartesian product,
                           the first variable changing slowest), all in one step
  ls                       List the jobs: id, status, class, command, machine, slot,
                           duration, output (results folder, or why it ended)
  cancel ID...             Cancel jobs (a running one is stopped by the dispatcher)
  hold ID...               Keep waiting jobs from starting (they keep their place)
  unhold ID...             Let held jobs start again
  retry ID...              Queue ended jobs again (failed, lost, canceled, done)
  log ID [-f]              The output of its last attempt; -f follows it (dexp job log --help)
  stat                     One row per job: matrix variables as columns, outcome, results
                           (CSV by default, --json for JSON)

CMD is a shell line; quote it, or give it after '--' (dexp job add cpu -- ./run --n 4). It
may use {host}, {slot}, {job} (the job id), {class}, the matrix variables and the pool
variables; '{{' and '}}' are literal braces. An ID is a number, a range (3-7) or a list (1,4).

Options:
      --pool DIR          The pool directory (default: $DEXP_POOL)
  -x, --repeat N          add, matrix add: queue N copies of each job
      --results DIR       add, matrix add: copy each job's results to DIR/<job>/: the paths of
                          its 'RESULTS: PATH' lines and of every --output
      --output PATH       add, matrix add: a path on the host the job writes (placeholders
                          as in CMD), copied back after it ends; repeat for more
      --timeout D         add, matrix add: time limit of one attempt (e.g. 30m)
      --attempts N        add, matrix add: attempts at most (default 1)
      --count-infra       add, matrix add: infrastructure failures (lost, could not connect)
                          use up attempts too (default: they are retried)
      --state S[,S]       ls, stat: only jobs in these states
      --class CLASS       ls, stat: only jobs of this class
      --matrix ID         ls, stat: only jobs of the matrix whose first job is ID
      --reason TEXT       cancel: why (kept)
      --csv               stat: CSV (the default)
      --json              Print JSON
  -h, --help              Show this help

Examples:
  export DEXP_POOL=./lab
  dexp job add cpu 'make -C ~/exp test' -x 3 --results ./results
  dexp job add cpu './bench > out-{job}.csv' --output 'out-{job}.csv' --results ./results
  dexp job matrix add gpu './train --lr {lr} --bs {bs} --gpu {slot}' lr=0.1,0.01 bs=32,64
  dexp job ls --state waiting,running
  dexp job hold 4-9 && dexp job cancel 5
  dexp job stat --csv > results.csv

Exit status: 0 on success, 1 if the pool refused (no such job, a job in the wrong state) or
could not be read or written, 2 for bad usage or bad input (unknown class, unknown {var},
empty matrix value list).`;

const STATES: readonly JobState[] = [
  "waiting",
  "held",
  "running",
  "copying",
  "done",
  "failed",
  "canceled",
  "lost",
];

function filterOf(v: Parsed["values"]): JobFilter {
  const f: JobFilter = {};
  if (v.state !== undefined) {
    const states = (v.state as string).split(",");
    for (const s of states) {
      if (!STATES.includes(s as JobState)) {
        throw new PoolUsageError(`Unknown state '${s}': use ${STATES.join(", ")}`);
      }
    }
    f.state = states as JobState[];
  }
  if (v.class !== undefined) f.class = v.class as string;
  if (v.matrix !== undefined) f.matrix = positiveInt(v.matrix, "matrix", 0);
  return f;
}

function specOf(v: Parsed["values"], cls: string, command: string): SubmitSpec {
  return {
    class: cls,
    command,
    repeat: positiveInt(v.repeat, "repeat", 1),
    results: (v.results as string | undefined) ?? null,
    outputs: (v.output as string[] | undefined) ?? [],
    timeout: (v.timeout as string | undefined) ?? null,
    retry: {
      attempts: positiveInt(v.attempts, "attempts", 1),
      countInfrastructure: v["count-infra"] === true,
    },
  };
}

function idList(jobs: readonly PoolJob[]): string {
  if (jobs.length === 1) return `job ${jobs[0].id}`;
  const first = jobs[0].id;
  const last = jobs[jobs.length - 1].id;
  return last - first + 1 === jobs.length
    ? `${jobs.length} jobs ${first}-${last}`
    : `${jobs.length} jobs ${jobs.map((j) => j.id).join(",")}`;
}

/** The command as the job will run it, as far as known before it runs (vars, {job}, {class}). */
function shown(j: PoolJob): string {
  return j.command.replaceAll(
    /\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
    (m, k: string) => k === "job" ? String(j.id) : k === "class" ? j.class : j.vars[k] ?? m,
  );
}

/** The table row of `dexp job ls`. */
function lsRow(j: PoolJob, now: number): string[] {
  const a = j.attempts.length ? j.attempts[j.attempts.length - 1] : undefined;
  let duration = "";
  if (a) {
    const end = a.ran ?? a.end ?? (j.state === "running" ? now : null);
    if (end !== null) duration = formatDuration(end - a.start);
  }
  const output = a?.results ??
    (j.state === "failed" || j.state === "lost" || j.state === "canceled"
      ? j.reason ?? a?.reason ?? ""
      : j.results === null
      ? ""
      : `${j.results}/${j.id}`);
  return [
    String(j.id),
    j.attempts.length > 1 ? `${j.state} (${j.attempts.length})` : j.state,
    j.class,
    cell(shown(j), 60),
    a?.machine ?? "",
    a?.slot ?? "",
    duration,
    cell(output, 60),
  ];
}

function csvCell(v: string | number | null): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function toCsv(columns: readonly string[], rows: readonly StatRow[]): string {
  const lines = [columns.map(csvCell).join(",")];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c] ?? null)).join(","));
  return lines.join("\n");
}

async function run(args: string[]): Promise<number> {
  if (args[0] === "log") return await (await import("./_dispatch_cli.ts")).jobLogCli(args.slice(1));
  return await poolGuard("job", async () => {
    const { values: v, positionals } = parsePoolArgs("job", args, {
      repeat: { type: "string", short: "x" },
      results: { type: "string" },
      output: { type: "string", multiple: true },
      timeout: { type: "string" },
      attempts: { type: "string" },
      "count-infra": { type: "boolean" },
      state: { type: "string" },
      class: { type: "string" },
      matrix: { type: "string" },
      reason: { type: "string" },
      csv: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    const [action, ...rest] = positionals;
    const added = async (jobs: PoolJob[], what: string) => {
      if (v.json) await print(JSON.stringify(jobs, null, 2));
      else console.log(`Queued ${idList(jobs)} (class '${jobs[0].class}'${what})`);
    };
    switch (action) {
      case "add": {
        const [cls, ...words] = rest;
        if (!cls || words.length === 0) {
          throw new PoolUsageError("Expected a class and a command: dexp job add CLASS CMD");
        }
        await using pool = await openFromArgs(v);
        await added(await pool.submit(specOf(v, cls, words.join(" "))), "");
        return 0;
      }
      case "matrix": {
        const [sub, cls, command, ...vars] = rest;
        if (sub !== "add") {
          throw new PoolUsageError(
            `Unknown action 'matrix ${sub ?? ""}': use 'dexp job matrix add CLASS CMD K=v1,v2 ...'`,
          );
        }
        if (!cls || !command || vars.length === 0) {
          throw new PoolUsageError(
            "Expected a class, a command and variables: dexp job matrix add CLASS CMD K=v1,v2 ...",
          );
        }
        const matrix = parseMatrixArgs(vars);
        await using pool = await openFromArgs(v);
        const jobs = await pool.matrix({ ...specOf(v, cls, command), matrix });
        await added(jobs, `, matrix ${jobs[0].id}`);
        return 0;
      }
      case "ls": {
        if (rest.length) {
          throw new PoolUsageError(`Unexpected '${rest[0]}': filter with --state, --class`);
        }
        await using pool = await openFromArgs(v);
        const jobs = await pool.jobs(filterOf(v));
        if (v.json) {
          await print(JSON.stringify(jobs));
          return 0;
        }
        const now = Date.now();
        const grid: string[][] = new Array(jobs.length + 1);
        grid[0] = ["id", "status", "class", "command", "machine", "slot", "duration", "output"];
        for (let i = 0; i < jobs.length; i++) grid[i + 1] = lsRow(jobs[i], now);
        await print(table(grid));
        return 0;
      }
      case "cancel":
      case "hold":
      case "unhold":
      case "retry": {
        const ids = parseIds(rest);
        await using pool = await openFromArgs(v);
        const jobs = action === "cancel"
          ? await pool.cancel(ids, v.reason as string | undefined)
          : await pool[action](ids);
        if (v.json) await print(JSON.stringify(jobs, null, 2));
        else for (const j of jobs) console.log(`Job ${j.id}: ${j.state}`);
        return 0;
      }
      case "stat": {
        if (v.csv && v.json) throw new PoolUsageError("Give --csv or --json, not both");
        await using pool = await openFromArgs(v);
        const st = await pool.stat(filterOf(v));
        if (v.json) await print(JSON.stringify(st.rows, null, 2));
        else await print(toCsv(st.columns, st.rows));
        return 0;
      }
      default:
        throw new PoolUsageError(
          `Unknown action '${
            action ?? ""
          }': use add, matrix add, ls, cancel, hold, unhold, retry or stat (dexp job --help)`,
        );
    }
  });
}

/** The `dexp job` verb. */
export const jobVerb: Verb = {
  run,
};
