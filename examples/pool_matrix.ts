/**
 * A host pool and a job queue in a directory: two classes of machines (`cpu` with 2 slots,
 * `gpu` with named slots that reach each job as `CUDA_VISIBLE_DEVICES`), a setup step that
 * must succeed before a machine takes jobs, a 3x3 matrix of jobs whose results are copied back
 * (`RESULTS: <path>` on stdout), then a CSV of every job with its matrix variables.
 *
 *   deno run -A examples/pool_matrix.ts hosts.txt    the first half of the hosts are cpu,
 *                                                    the rest gpu
 *
 * The same with the CLI: see "From expjobserver" in the README.
 *
 * @module
 */

import { type HostInput, hostsFromFile, initPool } from "../mod.ts";

/** What {@linkcode poolMatrix} made. */
export interface PoolMatrixResult {
  /** The CSV of `dexp job stat`: one row per job. */
  readonly csv: string;
  /** The pool directory. */
  readonly dir: string;
}

/**
 * Makes a pool in `dir`, sets up its machines, runs a 3x3 matrix on the cpu class and one job
 * per gpu slot, copies the results into `results`, and returns the CSV.
 *
 * @param cpu The cpu machines.
 * @param gpu The gpu machines.
 * @param dir A new pool directory.
 * @param results Where the results land (`<results>/<job>/`).
 * @returns The CSV and the pool directory.
 */
export async function poolMatrix(
  cpu: readonly HostInput[],
  gpu: readonly HostInput[],
  dir: string,
  results: string,
): Promise<PoolMatrixResult> {
  await using pool = await initPool(dir, {
    vars: { work: "dexp-pool-example" },
    classes: [
      {
        name: "cpu",
        slots: 2,
        setup: ["mkdir -p {work}", "echo {host} ready > {work}/setup-{host}"],
      },
      { name: "gpu", slots: ["0", "1"], env: { CUDA_VISIBLE_DEVICES: "{slot}" } },
    ],
  });
  await pool.addMachines("cpu", cpu);
  await pool.addMachines("gpu", gpu);
  // 3x3 matrix: each job writes a result folder and names it on stdout.
  await pool.matrix({
    class: "cpu",
    command:
      "mkdir -p {work}/job{job} && echo size={size} threads={threads} on {host} slot {slot}" +
      " > {work}/job{job}/result.txt && echo RESULTS: {work}/job{job}",
    matrix: { size: ["small", "medium", "large"], threads: ["1", "2", "4"] },
    results,
    retry: { attempts: 2 },
  });
  for (let i = 0; i < 2; i++) {
    await pool.submit({ class: "gpu", command: "echo device $CUDA_VISIBLE_DEVICES on {host}" });
  }
  // The dispatcher, until nothing waits or runs (`dexp pool serve DIR --idle`).
  await pool.serve({ until: "idle", poll: 200 });
  const st = await pool.stat();
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const csv =
    [st.columns.join(","), ...st.rows.map((r) => st.columns.map((c) => cell(r[c])).join(","))]
      .join("\n") + "\n";
  return { csv, dir };
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (!file) {
    console.error("Usage: deno run -A examples/pool_matrix.ts HOSTS_FILE");
    Deno.exit(2);
  }
  const all = (await hostsFromFile(file)).targets.map((h) => ({
    ...h.params,
    address: h.address,
    name: h.name,
  }));
  const half = Math.max(1, Math.ceil(all.length / 2));
  const dir = await Deno.makeTempDir({ prefix: "dexp-pool-" });
  const { csv } = await poolMatrix(
    all.slice(0, half),
    all.slice(half),
    `${dir}/pool`,
    `${dir}/results`,
  );
  console.log(csv);
  console.log(`pool in ${dir}/pool, results in ${dir}/results`);
}
