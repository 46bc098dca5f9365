// The progress line and its time estimate: pure, so tested with made-up times.
import { assert, assertEquals, assertStringIncludes } from "../../tests/assert.ts";
import { estimateEta, ProgressModel } from "./progress.ts";

const base = { experiment: "grid" };

function model(total: number, workers: number, previously = 0): ProgressModel {
  const m = new ProgressModel();
  m.apply({
    type: "experiment-start",
    at: 0,
    ...base,
    runDir: "r",
    total,
    finished: previously,
    workers,
  });
  return m;
}

function end(
  m: ProgressModel,
  worker: number,
  name: string,
  at: number,
  duration: number,
  ok = true,
) {
  m.apply({
    type: "combo-end",
    at,
    ...base,
    worker,
    name,
    outcome: ok ? "ok" : "failed",
    attempts: 1,
    duration,
  });
}

Deno.test("the ETA does not grow while a combination runs: its elapsed time counts", () => {
  const m = model(4, 1);
  m.apply({ type: "combo-start", at: 0, ...base, worker: 0, name: "a=1", attempt: 1 });
  end(m, 0, "a=1", 1000, 1000);
  m.apply({ type: "combo-start", at: 1000, ...base, worker: 0, name: "a=2", attempt: 1 });
  // One second per combination: a=2 has 0.8 s then 0.2 s to go, two more wait.
  assertEquals(m.eta(1200), 2800);
  assertEquals(m.eta(1800), 2200);
  let last = Infinity;
  for (let t = 1000; t <= 5000; t += 250) {
    const eta = m.eta(t)!;
    assert(eta <= last, `the ETA grew from ${last} to ${eta} at ${t}`);
    last = eta;
  }
  // A restart keeps the combination's first start.
  m.apply({ type: "combo-start", at: 1900, ...base, worker: 0, name: "a=2", attempt: 2 });
  assertEquals(m.eta(1900), 2100);
});

Deno.test("estimateEta shares pending work among the workers and waits for the longest", () => {
  const one = { finished: 2, finishedDuration: 2000, workers: 1 };
  assertEquals(estimateEta({ ...one, now: 0, running: [], remaining: 3 }), 3000);
  assertEquals(estimateEta({ ...one, now: 10_400, running: [10_000], remaining: 3 }), 2600);
  assertEquals(estimateEta({ ...one, now: 0, running: [], remaining: 0 }), 0);
  assertEquals(
    estimateEta({ ...one, finished: 0, finishedDuration: 0, now: 0, running: [0], remaining: 3 }),
    undefined,
  );
  // Four workers, four running (started 0.1 to 0.4 s ago), four pending: 1 s per combination.
  const four = { finished: 1, finishedDuration: 1000, workers: 4, remaining: 8, now: 1000 };
  assertEquals(
    estimateEta({ ...four, running: [900, 800, 700, 600] }),
    (900 + 800 + 700 + 600 + 4000) / 4,
  );
  // A running combination past the mean is expected to end now, not to take negative time.
  assertEquals(estimateEta({ ...four, remaining: 1, running: [0] }), 0);
  // Two workers, one long combination left: the estimate is its rest, not half of it.
  assertEquals(
    estimateEta({
      finished: 1,
      finishedDuration: 1000,
      workers: 2,
      remaining: 1,
      now: 100,
      running: [0],
    }),
    900,
  );
});

Deno.test("the progress line reads as counts: 'N done, N failed, N left'", () => {
  const m = model(3, 1);
  end(m, 0, "a=1", 1000, 1000);
  const line = m.render({ now: 1000, width: 200 }).split("\n")[0];
  assertStringIncludes(line, "1 done, 0 failed, 2 left, elapsed 1.0s, eta 2.0s");
  assert(!/\d+\/\d+ ok/.test(line), line);
  const again = model(5, 1, 2);
  end(again, 0, "a=3", 1000, 1000, false);
  const line2 = again.render({ now: 1000, width: 200, color: true }).split("\n")[0];
  assertStringIncludes(line2, "0 done, \x1b[31m1 failed\x1b[0m, 2 left, 2 before");
});
