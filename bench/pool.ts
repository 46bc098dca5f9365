// The pool store under load: adding a 10,000-job matrix, `dexp job ls` on 100,000 jobs, and
// the cost of one operation as the queue grows.
//
//   deno run -A bench/pool.ts [--jobs 100000] [--matrix 10000]
//
// The CLI numbers are whole `dexp` processes (start-up included), as a user sees them. Every
// tenth job of the big queue has run (an attempt recorded), so the state is not all "waiting".
import { parseArgs } from "node:util";
import { initPool, openPool } from "../src/pool/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "100000" },
    matrix: { type: "string", default: "10000" },
  },
});
const total = Number(values.jobs);
const matrixSize = Number(values.matrix);
const main = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function dexp(dir: string, ...args: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args, "--pool", dir],
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    throw new Error(`dexp ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

// The matrix K x J with K*J = matrixSize.
function matrixArgs(n: number): string[] {
  const k = 100;
  const j = Math.ceil(n / k);
  return [
    `K=${Array.from({ length: k }, (_, i) => `k${i}`).join(",")}`,
    `J=${Array.from({ length: j }, (_, i) => String(i)).join(",")}`,
  ];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const dir = await Deno.makeTempDir({ prefix: "dexp-bench-pool-" });
try {
  console.log(`Pool store, ${Deno.build.os}, deno ${Deno.version.deno}`);
  (await initPool(dir, { classes: [{ name: "cpu", slots: 4 }] })).close();
  // 1. One matrix of 10,000 jobs through the CLI, three times (a fresh pool each time).
  const addTimes: number[] = [];
  for (let r = 0; r < 3; r++) {
    const d = `${dir}/m${r}`;
    (await initPool(d, { classes: [{ name: "cpu", slots: 4 }] })).close();
    const args = ["job", "matrix", "add", "cpu", "./run --k {K} --j {J} --slot {slot}"];
    addTimes.push(await dexp(d, ...args, ...matrixArgs(matrixSize)));
  }
  const combos = 100 * Math.ceil(matrixSize / 100);
  console.log(
    `dexp job matrix add (${combos} jobs):   ${median(addTimes).toFixed(0)} ms (median of 3)`,
  );

  // 2. Fill a pool to `total` jobs, record attempts for every tenth, time `dexp job ls`.
  {
    await using pool = await openPool(dir);
    await pool.addMachines("cpu", ["n1", "n2", "n3", "n4"]);
    const t0 = performance.now();
    for (let n = 0; n < total; n += matrixSize) {
      const lr = Array.from({ length: Math.min(matrixSize, total - n) }, (_, i) => String(n + i));
      await pool.matrix({
        class: "cpu",
        command: "./train --lr {lr} --gpu {slot}",
        matrix: { lr },
      });
    }
    const tFill = performance.now() - t0;
    const t1 = performance.now();
    for (let id = 1; id <= total; id += 10) {
      const j = await pool.claim(id, { machine: `n${1 + (id % 4)}`, slot: String(id % 4) });
      await pool.finishAttempt(id, j.attempts.length - 1, {
        outcome: "done",
        exitCode: 0,
        results: `/r/${id}`,
      });
    }
    const per = (performance.now() - t1) / (total / 10) / 2;
    console.log(
      `in-process: ${total} jobs in ${(tFill / 1000).toFixed(1)} s; claim or finish: ${
        per.toFixed(2)
      } ms each (fsync included)`,
    );
  }
  const lsTimes: number[] = [];
  for (let r = 0; r < 3; r++) lsTimes.push(await dexp(dir, "job", "ls"));
  console.log(
    `dexp job ls (${total} jobs):         ${median(lsTimes).toFixed(0)} ms (median of 3)`,
  );
  const jsonTimes: number[] = [];
  for (let r = 0; r < 3; r++) jsonTimes.push(await dexp(dir, "job", "ls", "--json"));
  console.log(
    `dexp job ls --json (${total} jobs):  ${median(jsonTimes).toFixed(0)} ms (median of 3)`,
  );
  const addOne: number[] = [];
  for (let r = 0; r < 3; r++) addOne.push(await dexp(dir, "job", "add", "cpu", "echo one"));
  console.log(
    `dexp job add on ${total} jobs:        ${median(addOne).toFixed(0)} ms (median of 3)`,
  );
  // 3. One operation in a long-lived handle does not grow with the queue.
  {
    await using pool = await openPool(dir);
    const times: number[] = [];
    for (let r = 0; r < 50; r++) {
      const t0 = performance.now();
      await pool.submit({ class: "cpu", command: "echo x" });
      times.push(performance.now() - t0);
    }
    console.log(`submit in an open handle (${total} jobs): ${median(times).toFixed(2)} ms median`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
