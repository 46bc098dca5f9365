/**
 * A long remote job that outlives this program: start a 2-minute job detached on every host,
 * save its references, follow its output. Kill this program (Ctrl-C, SIGKILL, a closed
 * laptop): the job runs on. Take it back later with `dexp jobs log -f` or by running this
 * program again with `--attach`.
 *
 *   deno run -A examples/long_job.ts hosts.txt            start, save jobs.json, follow
 *   deno run -A examples/long_job.ts hosts.txt --attach   follow the saved jobs to the end
 *   deno run -A examples/long_job.ts                      the same on this machine (local())
 *
 * @module
 */

import { attachJobs, detach, type Group, hostsFromFile, type JobGroup, local } from "../mod.ts";

/**
 * Starts the job (a counter that prints a line every `step` seconds) on every target.
 *
 * @param group Where to run it.
 * @param seconds How long it runs.
 * @param step Seconds between lines.
 * @returns The detached jobs.
 */
export function startLongJob(group: Group, seconds = 120, step = 5): Promise<JobGroup> {
  const n = Math.max(1, Math.floor(seconds / step));
  return detach(
    group.run(
      `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); echo "tick $i of ${n} on $(hostname)"; sleep ${step}; done`,
    ),
    { name: "long" },
  );
}

/**
 * Prints every job's output from the start, then its result.
 *
 * @param jobs The jobs.
 * @returns The exit codes.
 */
export async function followAll(jobs: JobGroup): Promise<(number | null)[]> {
  await Promise.all(jobs.jobs.map(async (job) => {
    let partial = "";
    for await (const chunk of job.follow({ interval: "1s" })) {
      const lines = (partial + new TextDecoder().decode(chunk)).split("\n");
      partial = lines.pop()!;
      for (const l of lines) console.log(`[${job.target.label}] ${l}`);
    }
  }));
  const r = await jobs.result();
  return r.results.map((x) => x.exitCode);
}

if (import.meta.main) {
  const [file, flag] = Deno.args;
  const group = file && file !== "--attach" ? await hostsFromFile(file) : local();
  const saved = "jobs.json";
  let jobs: JobGroup;
  if ((flag ?? file) === "--attach") {
    jobs = attachJobs(await Deno.readTextFile(saved));
    console.log(`attached ${jobs.length} job(s) from ${saved}`);
  } else {
    jobs = await startLongJob(group);
    await Deno.writeTextFile(saved, JSON.stringify(jobs.refs, null, 2));
    console.log(`started ${jobs.length} job(s); references in ${saved}`);
    console.log(
      `kill this program at any time, then: dexp jobs log ${jobs.jobs[0].id} -f --hosts HOSTFILE`,
    );
  }
  console.log("exit codes:", await followAll(jobs));
}
