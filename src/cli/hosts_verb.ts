/**
 * `dexp hosts check HOSTFILE`: which hosts are reachable, and why not.
 *
 * @module
 */

import { hostsFromFile } from "../action/mod.ts";
import { toText } from "../engine/mod.ts";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp hosts check [options] HOSTFILE

Connects to every host of HOSTFILE (one host a line with tags, or YAML with 'defaults:'
and 'hosts:') and runs 'true', at most --window logins at a time. Prints each host with
ok or the reason it is not reachable (refused, timeout, authentication, host key).

Options:
      --window N        Logins at once (default 32)
      --timeout SECS    ssh ConnectTimeout (default 10)
      --json            Print the result as JSON
  -h, --help            Show this help

Exit status: 0 if every host is reachable, 1 if one is not, 2 for bad usage.`;

function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer: received '${value}'`);
  }
  return n;
}

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("hosts", args, {
    window: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const [action, file, ...rest] = positionals;
  if (action !== "check") {
    throw new UsageError(
      action === undefined
        ? "Missing action: use 'dexp hosts check HOSTFILE'"
        : `Unknown action '${action}': use 'check'`,
    );
  }
  if (!file || rest.length > 0) throw new UsageError("Expected one host file");
  let nodes;
  try {
    nodes = await hostsFromFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`Host file '${file}' does not exist`);
    }
    if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const connectWindow = positive(v.window as string | undefined, "window");
  const connectTimeout = positive(v.timeout as string | undefined, "timeout");
  if (connectWindow || connectTimeout) {
    nodes = nodes.with({
      ...(connectWindow ? { connectWindow } : {}),
      ...(connectTimeout ? { connectTimeout: `${connectTimeout}s` } : {}),
    });
  }
  const checks = await nodes.check();
  await nodes.close();
  if (v.json) {
    console.log(JSON.stringify(checks, null, 2));
  } else {
    console.log(toText({
      columns: ["host", "status", "ms", "reason"],
      rows: checks.map((c) => ({
        host: c.host,
        status: c.ok ? "ok" : "unreachable",
        ms: c.duration,
        reason: c.reason ?? "",
      })),
    }));
    const bad = checks.filter((c) => !c.ok).length;
    console.log(`${checks.length - bad} of ${checks.length} hosts reachable`);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}

/** The `hosts` verb. */
export const hostsVerb: Verb = {
  run: (args) => guard("hosts", () => run(args)),
};
