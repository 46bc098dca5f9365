/**
 * A tour of dexp on this machine, no ssh needed: `deno task demo`.
 *
 * Every step below works the same on remote hosts: replace `local(4)` with
 * `hosts("n1", "bob@n2:2222")` (see examples/netcat_bandwidth.ts).
 */
import { cmd, local, par, report, seq, sh } from "../mod.ts";

const step = (title: string) => console.log(`\n== ${title}`);

step("one command: lazy, immutable, awaitable");
const kernel = await cmd("uname -r").text();
console.log(`kernel ${kernel}`);

step("values are quoted for the shell, even hostile ones");
const name = "it's; echo INJECTED";
console.log(await cmd(sh`printf '%s\n' ${name}`).text());

step("a group: 4 workers on this machine, output prefixed by worker");
const workers = local(4);
const squares = await workers.run((_, i) => sh`echo $((${i} * ${i}))`);
console.log(`squares: ${squares.text().join(" ")}`);

step("a server: start it, wait until it says it is ready, use it, stop it");
const server = cmd(
  "echo starting; sleep 0.2; echo 'listening on 7000'; while true; do sleep 1; done",
).quiet().spawn();
const ready = await server.expect(/listening on (\d+)/, { timeout: "5s" });
console.log(`server ready on port ${ready.match![1]} (pid ${server.pid})`);

step("composition: setup, then two jobs in parallel, then a check");
const pipeline = await seq(
  cmd("echo setup").prefix("[setup] "),
  par(
    cmd("sleep 0.3; echo job A done").prefix("[A] "),
    cmd("sleep 0.2; echo job B done").prefix("[B] "),
  ),
  function check() {
    console.log("[check] all good");
  },
);

step("failures keep every result; timeouts stop the whole process tree");
const mixed = await workers.run((_, i) => i === 2 ? "echo oops >&2; exit 3" : "echo fine")
  .quiet().noThrow();
console.log(`ok: ${mixed.succeeded.length}, failed: ${mixed.failed.map((r) => r.target)}`);
const slow = await cmd("sleep 30 & sleep 30").timeout("300ms").quiet().noThrow();
console.log(`timed out: ${slow.timedOut} after ${slow.duration} ms`);

await server.kill();
const stopped = await server.result();

step("report");
console.log(
  report(
    [squares.length ? await workers.run("true").quiet() : [], pipeline, mixed, slow, stopped],
    "quickstart",
  ).text(),
);
