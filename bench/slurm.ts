/**
 * Sweeps as Slurm job arrays on a real single-machine cluster (tests/harness/slurm.ts), each
 * next to its floor in the same run:
 *
 *   (a) submission overhead per array: runExperiments({ slurm }) in-process (prepare the run
 *       folder, its sweep, run.json, sbatch --array, slurm.json), and the whole
 *       `dexp run --slurm` command (a new Deno process)
 *       vs  `sbatch --array=0-3 --wrap true` alone
 *   (b) dexp's overhead per combination inside an array task: one task running COMBOS empty
 *       combinations, (last end - first start) / COMBOS from their result.json
 *       vs  Slurm's own cost per job: submit-to-end of a 1-task array running `true`
 *
 *   deno run -A bench/slurm.ts [ROUNDS] [COMBOS]   (needs root: it starts the cluster)
 */
import { join, resolve } from "node:path";
import { clearExperiments, experiment, runExperiments } from "../mod.ts";
import { type SlurmCluster, startSlurmCluster } from "../tests/harness/slurm.ts";

const rounds = Number(Deno.args[0] ?? 10);
const combos = Number(Deno.args[1] ?? 200);
const MAIN = resolve(import.meta.dirname!, "../src/cli/main.ts");
const FIXTURE = resolve(import.meta.dirname!, "../tests/slurm_fixtures/array40.ts");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function sh(sc: SlurmCluster, program: string, args: string[]): Promise<string> {
  const r = await sc.client(program, args);
  if (r.code !== 0) throw new Error(`${program} failed: ${r.out}`);
  return r.stdout.trim();
}

async function final(sc: SlurmCluster, id: string): Promise<void> {
  for (;;) {
    const s = await sh(sc, "squeue", ["-h", "-r", "-t", "all", "-j", id, "-o", "%T"]);
    const states = s.split("\n").filter(Boolean);
    if (states.length > 0 && states.every((x) => /COMPLETED|FAILED|CANCELLED/.test(x))) return;
    await sleep(20);
  }
}

await using sc = await startSlurmCluster({ nodes: 4, cpus: 8 });
const dir = await Deno.makeTempDir({ prefix: "dexp-bench-slurm-" });
await Deno.chmod(dir, 0o755);
Deno.env.set("SLURM_CONF", sc.conf);
try {
  // (a) submission overhead, alternated rounds.
  const exp = experiment(
    "bench",
    { params: { i: Array.from({ length: 40 }, (_, i) => i) } },
    () => {},
  );
  const alone: number[] = [];
  const lib: number[] = [];
  const cli: number[] = [];
  const ids: string[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    ids.push(
      await sh(sc, "sbatch", [
        "--parsable",
        "--array=0-3",
        "--hold",
        "--output=/dev/null",
        "--wrap",
        "true",
      ]),
    );
    alone.push(performance.now() - t);
    t = performance.now();
    const s = await runExperiments([exp], {
      results: join(dir, "lib"),
      display: "none",
      slurm: { tasks: 4, sbatch: ["--hold"], command: () => ["true"] },
    });
    lib.push(performance.now() - t);
    ids.push(s.experiments[0].slurmArray!);
    t = performance.now();
    const o = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "run",
        "--slurm",
        "--sbatch=--hold",
        "--no-check",
        "-r",
        join(dir, "cli"),
        FIXTURE,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    cli.push(performance.now() - t);
    if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
    ids.push(/Submitted Slurm array (\d+)/.exec(new TextDecoder().decode(o.stdout))![1]);
    await sh(sc, "scancel", ids.splice(0));
  }
  clearExperiments();
  console.log(`(a) submission of one 4-task array, median of ${rounds} alternated rounds:`);
  console.log(`    sbatch --array alone                 ${median(alone).toFixed(1)} ms`);
  console.log(`    runExperiments({ slurm }) in-process ${median(lib).toFixed(1)} ms`);
  console.log(`    dexp run --slurm (new process)       ${median(cli).toFixed(1)} ms`);

  // (b) per combination inside a task, and Slurm's own per-job cost.
  await Deno.writeTextFile(join(dir, "gate"), "");
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "run",
      "--slurm",
      "--tasks",
      "1",
      "--no-check",
      "-r",
      join(dir, "b"),
      FIXTURE,
    ],
    env: { DEXP_T_DIR: dir, DEXP_T_N: String(combos) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const m = /Submitted Slurm array (\d+) \(1 tasks\) for (\S+):/.exec(
    new TextDecoder().decode(o.stdout),
  );
  if (!m) throw new Error(new TextDecoder().decode(o.stderr));
  await final(sc, m[1]);
  let first = Infinity, last = 0;
  for (let i = 0; i < combos; i++) {
    const rec = JSON.parse(await Deno.readTextFile(join(m[2], `i=${i}`, "result.json")));
    first = Math.min(first, Date.parse(rec.start));
    last = Math.max(last, Date.parse(rec.end));
  }
  const perJob: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    const id = await sh(sc, "sbatch", [
      "--parsable",
      "--array=0-0",
      "--output=/dev/null",
      "--wrap",
      "true",
    ]);
    await final(sc, id);
    perJob.push(performance.now() - t);
  }
  console.log(`(b) ${combos} empty combinations in one array task:`);
  console.log(
    `    dexp per combination                 ${((last - first) / combos).toFixed(2)} ms`,
  );
  console.log(
    `    Slurm per job (submit to end, 1 task) ${
      median(perJob).toFixed(0)
    } ms (median of ${rounds})`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
