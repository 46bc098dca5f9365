/**
 * A client/server benchmark over ssh hosts, swept over message size and number of clients,
 * with a CSV report at the end: the first host serves, the next ones send to it.
 *
 *   deno run -A examples/client_server.ts --testbed     4 local test sshd hosts (needs root)
 *   deno run -A examples/client_server.ts HOSTFILE      your hosts (python3 on each)
 *   DEXP_HOSTS=HOSTFILE deno task dexp run examples/client_server.ts
 *
 * @module
 */
import {
  defineExperiment,
  type Experiment,
  experiment,
  type Hosts,
  hosts,
  hostsFromFile,
  runExperiments,
  writeReport,
} from "../mod.ts";
import { mbPerSecond, sinkCommand, sourceCommand } from "./_tcp.ts";

const PORT = 15201;

/**
 * The experiment over the given hosts (at least 4: one server, up to 3 clients).
 *
 * @param nodes The hosts.
 * @param register Register it for `dexp run` (true) or only define it.
 * @returns The experiment.
 */
export function clientServer(nodes: Hosts, register = false): Experiment<Hosts> {
  const define = register ? experiment : defineExperiment;
  return define(
    "client_server",
    { hosts: nodes, params: { mb: [2, 8], clients: [1, 3] }, tags: ["example", "ssh"] },
    async (ctx, p) => {
      const server = ctx.hosts.at(0);
      const clients = ctx.hosts.slice(1, 1 + p.clients);
      const sink = ctx.spawn(server.run(sinkCommand(server.address, PORT)).quiet());
      await sink.expect("listening", { timeout: "30s" });
      const sent = await ctx.spawn(
        clients.run(sourceCommand(server.address, PORT, p.mb * 1e6)).quiet(),
      );
      await ctx.addRows(
        sent.results.map((r) => ({ client: r.target, mbps: mbPerSecond(r.text()) })),
      );
      await sink.kill();
    },
  );
}

const fromEnv = Deno.env.get("DEXP_HOSTS");
if (fromEnv && !import.meta.main) clientServer(await hostsFromFile(fromEnv), true);

if (import.meta.main) {
  const where = Deno.args[0];
  if (!where) {
    console.error("usage: client_server.ts --testbed | HOSTFILE");
    Deno.exit(2);
  }
  const run = async (nodes: Hosts) => {
    const summary = await runExperiments([clientServer(nodes)], { display: "plain" });
    const table = await writeReport(summary.experiments[0].runDir);
    console.log(`report: ${summary.experiments[0].runDir}/results.csv (${table.rows.length} rows)`);
    return summary.ok;
  };
  let ok: boolean;
  if (where === "--testbed") {
    const { startTestbed, USERS } = await import("../tests/harness/sshd.ts");
    await using tb = await startTestbed({ hosts: 4 });
    await using nodes = hosts(tb.hosts.map(({ name, address, port }) => ({ name, address, port })))
      .with({ user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts });
    ok = await run(nodes);
  } else {
    await using nodes = await hostsFromFile(where);
    ok = await run(nodes);
  }
  Deno.exit(ok ? 0 : 1);
}
