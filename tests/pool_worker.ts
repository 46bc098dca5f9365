// A process that works on a pool directory, for tests/pool_*_test.ts. Prints one line per
// operation that returned (so it is on disk: every write is fsynced before it returns).
//
//   pool_worker.ts submit DIR N TAG          N submits of "echo TAG-i"
//   pool_worker.ts claim DIR CLASS MACHINE   claims until none waits, ends each attempt done
//   pool_worker.ts hammer DIR TAG            matrices of 2000 jobs for ever (until killed)
import { openPool } from "../src/pool/mod.ts";

const [mode, dir, a, b] = Deno.args;
const pool = await openPool(dir, { compactBytes: 256 << 10 });
const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
if (mode === "submit") {
  for (let i = 0; i < Number(a); i++) {
    const [j] = await pool.submit({ class: "cpu", command: `echo ${b}-${i}` });
    out(`${j.id} ${b}-${i}`);
  }
} else if (mode === "claim") {
  while (true) {
    const j = await pool.claimNext(a, { machine: b, slot: "0" });
    if (!j) break;
    await pool.finishAttempt(j.id, j.attempts.length - 1, { outcome: "done", exitCode: 0 });
    out(String(j.id));
  }
} else if (mode === "hammer") {
  const K = Array.from({ length: 2000 }, (_, i) => String(i));
  for (let n = 0;; n++) {
    const jobs = await pool.matrix({ class: "cpu", command: `echo ${a}-${n}-{K}`, matrix: { K } });
    out(`${jobs[0].id} ${jobs.length} ${a}-${n}`);
  }
}
await pool.close();
