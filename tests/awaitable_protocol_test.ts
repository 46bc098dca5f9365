// The one awaitable protocol: then/result/wait are written once (src/process/awaitable.ts),
// and every builder and handle uses that implementation instead of its own copy.
import { Lazy, Running, Settled } from "../src/process/awaitable.ts";
import { cmd, Command } from "../src/process/command.ts";
import { RunningProcess } from "../src/process/running.ts";
import { GroupCommand, RunningGroup } from "../src/action/group_command.ts";
import { Composite, par, RunningComposite, seq } from "../src/action/compose.ts";
import { Job } from "../src/jobs/job.ts";
import { JobGroup } from "../src/jobs/job_group.ts";
import { LOCAL } from "../src/process/target.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { ExitError } from "../src/process/errors.ts";
import { GroupError } from "../src/action/group_result.ts";
import { CompositeError } from "../src/action/compose.ts";

function ownsAny(cls: { prototype: object }, names: string[]): string[] {
  return names.filter((n) => Object.prototype.hasOwnProperty.call(cls.prototype, n));
}

Deno.test("no builder or handle writes its own then/wait: they inherit the one protocol", () => {
  const builders = [Command, GroupCommand, Composite];
  const handles = [RunningProcess, RunningGroup, RunningComposite];
  const detached = [Job, JobGroup];
  for (const b of builders) {
    assert(b.prototype instanceof Lazy, `${b.name} is not Lazy`);
    assertEquals(ownsAny(b, ["then", "wait"]), [], `${b.name} has its own copy`);
  }
  for (const h of handles) {
    assert(h.prototype instanceof Running, `${h.name} is not Running`);
    assertEquals(ownsAny(h, ["then", "wait"]), [], `${h.name} has its own copy`);
  }
  for (const d of detached) {
    assert(d.prototype instanceof Settled, `${d.name} is not Settled`);
    // A detached handle is returned by async functions: it must not be a thenable.
    assertEquals("then" in d.prototype, false, `${d.name} must not be awaitable`);
    assertEquals(ownsAny(d, ["wait"]), [], `${d.name} has its own copy of wait`);
  }
});

Deno.test("awaiting a builder, a handle and wait() give the same result; failures reject", async () => {
  const ok = cmd(["true"]).quiet();
  assertEquals((await ok).exitCode, 0);
  assertEquals((await ok.spawn().wait()).exitCode, 0);
  assertEquals((await ok.spawn().result()).exitCode, 0);
  const bad = cmd(["false"]).quiet();
  await assertRejects(() => bad, ExitError);
  assertEquals((await bad.spawn().result()).exitCode, 1);
  const group = new GroupCommand([LOCAL, LOCAL], ["false"]).quiet();
  await assertRejects(() => group, GroupError);
  assertEquals((await group.spawn().result()).results.map((r) => r.exitCode), [1, 1]);
  await assertRejects(() => seq(par(bad)), CompositeError);
  assertEquals((await seq(bad).noThrow()).ok, false);
});
