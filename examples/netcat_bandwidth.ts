/**
 * execo's flagship, in dexp: a TCP sink on every host, each host sending to the next one at
 * the same time, sinks stopped, a report printed.
 *
 *   deno run -A examples/netcat_bandwidth.ts HOSTFILE [MB]   your hosts (one a line, or YAML)
 *   deno run -A examples/netcat_bandwidth.ts --testbed [MB]  4 local test sshd hosts (root)
 *
 * Hosts need python3 (see examples/_tcp.ts).
 *
 * @module
 */
import { type Hosts, hosts, hostsFromFile, report } from "../mod.ts";
import { mbPerSecond, sinkCommand, sourceCommand } from "./_tcp.ts";

/** One measured link. */
export interface Link {
  from: string;
  to: string;
  mbPerSecond: number;
}

/**
 * Measures bandwidth from each host to the next one, all links at once.
 *
 * @param nodes The hosts (at least 2).
 * @param options Megabytes to send per link, the port of the sinks.
 * @returns One link per host, and the report text.
 */
export async function bandwidth(
  nodes: Hosts,
  options: { mb?: number; port?: number } = {},
): Promise<{ links: Link[]; report: string }> {
  const { mb = 50, port = 5001 } = options;
  if (nodes.length < 2) throw new RangeError("bandwidth() needs at least 2 hosts");
  const peer = (i: number) => nodes.at((i + 1) % nodes.length);
  // 1. A sink on every host, listening on its own address.
  const sinks = nodes.run((h) => sinkCommand(h.address, port)).quiet().spawn();
  try {
    await sinks.expect("listening", { timeout: "30s" });
    // 2. Every host sends to the next one, at the same time.
    const clients = await nodes.run((_, i) => sourceCommand(peer(i).address, port, mb * 1e6))
      .quiet().timeout("5m");
    const links = clients.results.map((r, i) => ({
      from: r.target,
      to: peer(i).name,
      mbPerSecond: mbPerSecond(r.text()),
    }));
    // 3. Stop the sinks, remotely, with everything they started.
    await sinks.kill();
    const text = [
      ...links.map((l) => `${l.from} -> ${l.to}: ${l.mbPerSecond.toFixed(1)} MB/s`),
      "",
      report([clients, await sinks.result()], "netcat_bandwidth").text(),
    ].join("\n");
    return { links, report: text };
  } finally {
    await sinks.kill();
  }
}

if (import.meta.main) {
  const [where, mbArg] = Deno.args;
  if (!where) {
    console.error("usage: netcat_bandwidth.ts HOSTFILE|--testbed [MB]");
    Deno.exit(2);
  }
  const mb = Number(mbArg ?? 50);
  if (where === "--testbed") {
    const { startTestbed, USERS } = await import("../tests/harness/sshd.ts");
    await using tb = await startTestbed({ hosts: 4 });
    await using nodes = hosts(tb.hosts.map(({ name, address, port }) => ({ name, address, port })))
      .with({
        user: USERS.dash,
        keyfile: tb.keyfile,
        knownHosts: tb.knownHosts,
      });
    console.log((await bandwidth(nodes, { mb })).report);
  } else {
    await using nodes = await hostsFromFile(where);
    console.log((await bandwidth(nodes, { mb })).report);
  }
}
