import { assert, assertEquals } from "../../tests/assert.ts";
import { currentOwner, liveness, ownerKey, parseOwnerKey, processStartTime } from "./owner.ts";

Deno.test("currentOwner describes this process and each call is a new instance", () => {
  const a = currentOwner();
  const b = currentOwner();
  assertEquals(a.pid, Deno.pid);
  assert(a.instance !== b.instance);
  assertEquals(parseOwnerKey(ownerKey(a)), a);
  assertEquals(currentOwner("my|host\t1").host, "my_host_1");
});

Deno.test({
  name: "liveness: live, dead and reused pids on this host; leases elsewhere",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const me = currentOwner();
    assert(processStartTime(Deno.pid) !== undefined);
    assertEquals(liveness(me, me, 0, 0), "alive");
    // A process that has exited (and been reaped) is dead.
    const child = new Deno.Command("true").spawn();
    const pid = child.pid;
    const start = processStartTime(pid);
    await child.status;
    const gone = { ...me, pid, start: start ?? 1 };
    assertEquals(liveness(gone, me, Date.now() + 60_000, Date.now()), "dead-pid");
    // Same pid, other start time: the pid was reused.
    assertEquals(liveness({ ...me, start: me.start + 1 }, me, 0, 0), "pid-reused");
    // Another host (or another boot): only the lease counts.
    const other = { ...me, host: "elsewhere" };
    assertEquals(liveness(other, me, 1000, 999), "lease-valid");
    assertEquals(liveness(other, me, 1000, 1000), "lease-expired");
    assertEquals(liveness({ ...me, boot: "00000000" }, me, 0, 5), "lease-expired");
  },
});
