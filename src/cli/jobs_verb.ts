/**
 * `dexp jobs ls|log|kill|forget`: detached jobs on hosts, from any shell.
 *
 * @module
 */

import { type Hosts, hostsFromFile } from "../action/mod.ts";
import { recordedJobs, toText } from "../engine/mod.ts";
import { closeConnections, Host } from "../ssh/mod.ts";
import { type Job, JobGroup, type JobStatus, listJobs } from "../jobs/mod.ts";
import { attachJobs } from "../slurm/mod.ts";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp jobs <action> [options] ...

Actions:
  ls HOSTS                 List the detached jobs of HOSTS, with states
  log REF|ID [-f]          Print a job's output; -f follows it until the job ends
  kill REF|ID|RESULTS ...  End jobs (their whole session on the host): TERM, then KILL
  forget REF|ID|RESULTS ...  Kill jobs that still run and remove their folders

HOSTS is a host file (every job on its hosts) or a results folder: a run folder or an
experiment folder (its latest run), whose combinations recorded their jobs (ctx.detach) in
jobs.json. A REF is a job reference as JSON (one, or a list: 'dexp jobs ls --json' prints
them, a program saves 'group.refs'), or a file that holds one. RESULTS stands for every job
recorded in a results folder. An ID needs --hosts HOSTS.

Options:
      --hosts HOSTS     Where to look for jobs given by ID (host file or results folder)
      --root DIR        Jobs folder on the hosts (default ~/.dexp/jobs)
      --name NAME       ls: only jobs with this name
  -f, --follow          log: follow new output until the job ends
      --stderr          log: standard error instead of standard output
      --from BYTES      log: start at this byte offset (default 0)
      --signal SIG      kill: first signal (default SIGTERM)
      --grace MS        kill: time before SIGKILL (default 2000)
      --json            Print JSON
  -h, --help            Show this help

Exit status: 0 on success, 1 if a host or job failed, 2 for bad usage.`;

async function loadHosts(file: string): Promise<Hosts> {
  try {
    return await hostsFromFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`Host file '${file}' does not exist`);
    }
    if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

interface Recorded {
  job: Job;
  combination: string;
  name: string;
}

/** The jobs recorded in a results folder, or null if `path` is not a folder. */
async function fromResults(path: string): Promise<Recorded[] | null> {
  try {
    if (!(await Deno.stat(path)).isDirectory) return null;
  } catch {
    return null;
  }
  const found = await recordedJobs(path);
  if (found === null) {
    throw new UsageError(
      `'${path}' is a folder but neither a run folder (with run.json) nor an experiment folder (with runs): give a host file or a results folder`,
    );
  }
  const out: Recorded[] = [];
  for (const c of found) {
    for (const e of c.entries) {
      const jobs = attachJobs(e.jobs.map((j) => j.ref)).jobs;
      for (const job of jobs) out.push({ job, combination: c.combination, name: e.name });
    }
  }
  return out;
}

async function resolve(
  args: string[],
  hostFile: string | undefined,
  root: string | undefined,
): Promise<{ group: JobGroup; close: () => Promise<void> }> {
  if (args.length === 0) throw new UsageError("Give at least one job reference or id");
  const jobs: Job[] = [];
  const ids: string[] = [];
  for (const a of args) {
    const recorded = await fromResults(a);
    if (recorded !== null) {
      jobs.push(...recorded.map((r) => r.job));
      continue;
    }
    let text: string | null = null;
    if (/^\s*[[{]/.test(a)) text = a;
    else {
      try {
        if ((await Deno.stat(a)).isFile) text = await Deno.readTextFile(a);
      } catch {
        // Not a file: an id.
      }
    }
    if (text === null) {
      ids.push(a);
      continue;
    }
    try {
      jobs.push(...attachJobs(text).jobs);
    } catch (e) {
      throw new UsageError(`'${a}' is not a job reference: ${(e as Error).message}`);
    }
  }
  let nodes: Hosts | null = null;
  if (ids.length) {
    if (!hostFile) {
      throw new UsageError(
        `'${ids[0]}' is not a job reference: give --hosts HOSTFILE to find jobs by id`,
      );
    }
    const recorded = await fromResults(hostFile);
    if (recorded === null) nodes = await loadHosts(hostFile);
    const found = recorded ?? await listJobs(nodes!, root ? { root } : {});
    for (const id of ids) {
      const hit = found.find((l) => l.job.id === id);
      if (!hit) throw new UsageError(`No job '${id}' on the hosts of '${hostFile}'`);
      jobs.push(hit.job);
    }
  }
  const close = async () => {
    await nodes?.close();
    await closeConnections(jobs.map((j) => j.target).filter((t) => t instanceof Host));
  };
  return { group: new JobGroup(jobs), close };
}

function describe(s: JobStatus): string {
  switch (s.state) {
    case "running":
      return `running (pid ${s.pid})`;
    case "exited":
      return `exited ${s.code}`;
    case "killed":
      return `killed ${s.signal}${s.byDexp ? "" : " (not by dexp)"}`;
    case "lost":
      return `lost: ${s.reason}`;
    case "unknown":
      return `unknown: ${s.detail}`;
  }
}

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("jobs", args, {
    hosts: { type: "string" },
    root: { type: "string" },
    name: { type: "string" },
    follow: { type: "boolean", short: "f" },
    stderr: { type: "boolean" },
    from: { type: "string" },
    signal: { type: "string" },
    grace: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  const root = v.root as string | undefined;
  const hostFile = v.hosts as string | undefined;
  const nat = (value: unknown, name: string, dflt: number) => {
    if (value === undefined) return dflt;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      throw new UsageError(`--${name} must be a non-negative integer: received '${value}'`);
    }
    return n;
  };
  try {
    switch (action) {
      case "ls": {
        const file = rest[0] ?? hostFile;
        if (!file || rest.length > 1) {
          throw new UsageError(
            "Expected one host file or results folder: dexp jobs ls HOSTFILE|RESULTS",
          );
        }
        const recorded = await fromResults(file);
        if (recorded !== null) return await lsRecorded(recorded, v.json === true);
        const nodes = await loadHosts(file);
        try {
          const list = await listJobs(nodes, {
            ...(root ? { root } : {}),
            ...(v.name ? { name: v.name as string } : {}),
          });
          if (v.json) {
            console.log(JSON.stringify(
              list.map((l) => ({
                ref: l.job.ref,
                host: l.job.target.label,
                name: l.name,
                created: l.created?.toISOString() ?? null,
                status: l.status,
              })),
              null,
              2,
            ));
          } else {
            console.log(toText({
              columns: ["host", "id", "name", "state", "created"],
              rows: list.map((l) => ({
                host: l.job.target.label,
                id: l.job.id,
                name: l.name,
                state: describe(l.status),
                created: l.created?.toISOString() ?? "",
              })),
            }));
          }
          return 0;
        } finally {
          await nodes.close();
        }
      }
      case "log": {
        if (rest.length !== 1) throw new UsageError("Expected one job: dexp jobs log REF|ID [-f]");
        const { group, close } = await resolve(rest, hostFile, root);
        try {
          if (group.length !== 1) {
            throw new UsageError("'log' shows one job: the reference names several");
          }
          const job = group.jobs[0];
          const stream = v.stderr ? "stderr" : "stdout";
          let from = nat(v.from, "from", 0);
          if (v.follow) {
            for await (const chunk of job.follow({ from, stream })) {
              await Deno.stdout.write(chunk);
            }
            const st = await job.status();
            console.error(`dexp jobs: ${job.id} ${describe(st)}`);
            return st.state === "exited" && st.code === 0 ? 0 : 1;
          }
          while (true) {
            const c = await job.output({ from, stream });
            await Deno.stdout.write(c.data);
            from = c.next;
            if (c.data.length === 0 || c.next >= c.size) break;
          }
          return 0;
        } finally {
          await close();
        }
      }
      case "kill":
      case "forget": {
        const { group, close } = await resolve(rest, hostFile, root);
        try {
          if (action === "forget") {
            await group.forget();
            if (v.json) {
              console.log(JSON.stringify(group.refs.map((ref) => ({ ref, forgotten: true }))));
            } else for (const j of group) console.log(`${j.target.label} ${j.id} forgotten`);
            return 0;
          }
          const st = await group.kill((v.signal as Deno.Signal | undefined) ?? "SIGTERM", {
            grace: nat(v.grace, "grace", 2000),
          });
          if (v.json) {
            console.log(
              JSON.stringify(group.refs.map((ref, i) => ({ ref, status: st[i] })), null, 2),
            );
          } else {
            group.jobs.forEach((j, i) =>
              console.log(`${j.target.label} ${j.id} ${describe(st[i])}`)
            );
          }
          return st.every((s) => s.state !== "running" && s.state !== "unknown") ? 0 : 1;
        } finally {
          await close();
        }
      }
      default:
        throw new UsageError(
          action === undefined
            ? "Missing action: use ls, log, kill or forget (dexp jobs --help)"
            : `Unknown action '${action}': use ls, log, kill or forget`,
        );
    }
  } catch (e) {
    if (e instanceof TypeError && !(e instanceof UsageError)) throw new UsageError(e.message);
    throw e;
  }
}

async function lsRecorded(recorded: Recorded[], json: boolean): Promise<number> {
  const group = new JobGroup(recorded.map((r) => r.job));
  try {
    const st = await group.status();
    if (json) {
      console.log(JSON.stringify(
        recorded.map((r, i) => ({
          ref: r.job.ref,
          host: r.job.target.label,
          name: r.name,
          combination: r.combination,
          status: st[i],
        })),
        null,
        2,
      ));
    } else {
      console.log(toText({
        columns: ["host", "id", "name", "combination", "state"],
        rows: recorded.map((r, i) => ({
          host: r.job.target.label,
          id: r.job.id,
          name: r.name,
          combination: r.combination,
          state: describe(st[i]),
        })),
      }));
    }
    return 0;
  } finally {
    await closeConnections(group.jobs.map((j) => j.target).filter((t) => t instanceof Host));
  }
}

/** The `jobs` verb. */
export const jobsVerb: Verb = {
  run: (args) => guard("jobs", () => run(args)),
};
