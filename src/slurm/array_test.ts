import assert from "node:assert";
import { arraySbatchArgs } from "./array.ts";

Deno.test("arraySbatchArgs: one array, requeue, the signal to the exec'd program, quoted argv", () => {
  const a = arraySbatchArgs(["/usr/bin/deno", "run", "it's"], {
    tasks: 4,
    throttle: 2,
    signal: "USR1@90",
    time: "90s",
    sbatch: ["--qos=debug"],
  });
  assert.ok(a.includes("--array=0-3%2"));
  assert.ok(a.includes("--requeue"));
  assert.ok(a.includes("--signal=B:USR1@90"));
  assert.ok(a.includes("--time=00:01:30"));
  assert.ok(a.includes("--qos=debug"));
  assert.deepEqual(a.slice(-2), ["--wrap", `exec /usr/bin/deno run 'it'"'"'s'`]);
  assert.ok(arraySbatchArgs(["x"]).includes("--array=0-3"));
});

Deno.test("arraySbatchArgs: bad input names the option and the value", () => {
  assert.throws(
    () => arraySbatchArgs(["x"], { tasks: 0 }),
    /'tasks' must be a positive integer: received 0/,
  );
  assert.throws(
    () => arraySbatchArgs(["x"], { throttle: 1.5 }),
    /'throttle' must be a positive integer/,
  );
  assert.throws(() => arraySbatchArgs(["x"], { signal: "60" }), /'signal' must be SIGNAL@SECONDS/);
  assert.throws(() => arraySbatchArgs([]), /'command' must not be empty/);
});
