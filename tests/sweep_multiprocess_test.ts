// Several processes share one sweep directory: exactly-once completion under races,
// SIGKILL at random points, restarts and concurrent compactions.
import { assert, assertEquals } from "./assert.ts";
import { combinationId, range, sweepStatus } from "../src/sweep/mod.ts";

const WORKER = new URL("./sweep_worker.ts", import.meta.url).pathname;
const N = 2000;

class Worker {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly finished: Promise<void>;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(dir: string, extra: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER, dir, String(N), ...extra],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.finished = this.#read();
  }

  async #read(): Promise<void> {
    let rest = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
      this.#wake();
    }
    await this.child.status;
    this.#waiters.forEach((w) => w.resolve());
    this.#waiters = [];
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.lines.length < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once the worker printed `count` lines in all, or ended. */
  waitLines(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push({ count, resolve });
      this.#wake();
    });
  }
}

/** Checks exactly-once against the journal (if it holds the whole history) and the reports. */
async function check(dir: string, workers: Worker[], wholeJournal: boolean): Promise<void> {
  const reported = new Map<string, number>();
  for (const w of workers) {
    for (const l of w.lines) {
      assert(!l.startsWith("stale"), `a live worker on this host lost a claim: ${l}`);
      if (l.startsWith("done ")) reported.set(l.slice(5), (reported.get(l.slice(5)) ?? 0) + 1);
    }
  }
  for (const [i, n] of reported) assertEquals(n, 1, `reported done ${n} times: ${i}`);
  const st = await sweepStatus(dir);
  assertEquals([st.total, st.done, st.todo, st.inProgress, st.skipped], [N, N, 0, 0, 0]);
  if (wholeJournal) {
    const dones = new Map<string, number>();
    for (const l of Deno.readTextFileSync(`${dir}/journal`).split("\n")) {
      if (!l.startsWith("D\t")) continue;
      const id = l.split("\t")[3];
      dones.set(id, (dones.get(id) ?? 0) + 1);
    }
    assertEquals(dones.size, N);
    for (const i of range(N)) {
      assertEquals(dones.get(combinationId({ i })), 1, `done records for i=${i}`);
    }
    // Every completion a worker reported is in the journal.
    for (const i of reported.keys()) assert(dones.has(combinationId({ i: Number(i) })));
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dexp-sweep-mp-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("4 processes race over 2,000 combinations: each done exactly once (journal checked)", async () => {
  await withDir(async (dir) => {
    const workers = Array.from(
      { length: 4 },
      (_, k) => new Worker(dir, k === 3 ? ["--batch", "7"] : []),
    );
    await Promise.all(workers.map((w) => w.finished));
    for (const w of workers) assertEquals((await w.child.status).code, 0);
    // Everybody took part.
    for (const w of workers) assert(w.lines.filter((l) => l.startsWith("done")).length > 0);
    await check(dir, workers, true);
  });
});

Deno.test("4 processes race while compacting often: nothing lost, nothing twice", async () => {
  await withDir(async (dir) => {
    const workers = Array.from({ length: 4 }, () => new Worker(dir, ["--compact", "4096"]));
    await Promise.all(workers.map((w) => w.finished));
    for (const w of workers) assertEquals((await w.child.status).code, 0);
    assert(Deno.statSync(`${dir}/snapshot`).isFile);
    await check(dir, workers, false);
  });
});

async function killAndRestart(
  dir: string,
  extra: string[],
): Promise<{ workers: Worker[]; kills: number }> {
  const all: Worker[] = [];
  const live = new Set<Worker>();
  const start = () => {
    const w = new Worker(dir, extra);
    all.push(w);
    live.add(w);
    w.finished.then(() => live.delete(w));
  };
  for (let k = 0; k < 4; k++) start();
  let kills = 0;
  while (kills < 10 && live.size > 0) {
    const victims = [...live];
    const w = victims[Math.floor(Math.random() * victims.length)];
    // Kill it at a random point: after 1 to 40 more completions.
    await w.waitLines(w.lines.length + 1 + Math.floor(Math.random() * 40));
    if (!live.has(w)) continue;
    w.child.kill("SIGKILL");
    await w.finished;
    kills++;
    start();
  }
  await Promise.all(all.map((w) => w.finished));
  // Workers that finished while a killed one still held claims leave them in progress; a
  // last worker reaps them (their owners are dead) and completes them.
  for (let round = 0; round < 3 && (await sweepStatus(dir)).remaining > 0; round++) {
    const w = new Worker(dir, extra);
    all.push(w);
    await w.finished;
  }
  return { workers: all, kills };
}

Deno.test("workers SIGKILLed at random points and restarted: nothing lost, nothing twice, claims recovered", async () => {
  await withDir(async (dir) => {
    // One worker is certain to die holding a claim: it claims, says so, and waits to be killed.
    const holder = new Worker(dir, ["--hold"]);
    await holder.waitLines(1);
    assert(/^holding \d+$/.test(holder.lines[0] ?? ""), `holder: ${holder.lines}`);
    holder.child.kill("SIGKILL");
    await holder.finished;
    const { workers, kills } = await killAndRestart(dir, ["--work-ms", "3"]);
    assert(kills >= 5, `only ${kills} kills`);
    await check(dir, workers, true);
    const journal = Deno.readTextFileSync(`${dir}/journal`);
    // Dead workers held claims; other workers returned them to todo without any help (the
    // dead pid may belong to a new process by then: pid-reused says the owner is dead too).
    assert(
      /\nR\t[^\n]*\t(dead-pid|pid-reused)\t/.test(journal),
      "no claim of a dead worker was reaped",
    );
  });
});

Deno.test("SIGKILL during frequent compactions: the directory always reopens, nothing lost", async () => {
  await withDir(async (dir) => {
    const { workers, kills } = await killAndRestart(dir, ["--work-ms", "2", "--compact", "8192"]);
    assert(kills >= 5, `only ${kills} kills`);
    await check(dir, workers, false);
  });
});
