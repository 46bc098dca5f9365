/**
 * `dexp connections ls|close`: the shared connections kept open by programs with `persist`.
 *
 * @module
 */

import { closePersisted, persistedConnections } from "../ssh/mod.ts";
import { toText } from "../engine/mod.ts";
import { guard, parse, UsageError } from "./_common_verb.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp connections ls [--json]
       dexp connections close (--all | HOST...)

Shared ssh connections that programs kept open with 'persist' (.with({ persist: "10m" }),
a host file's defaults, or DEXP_PERSIST=10m), in this user's private folder
($DEXP_PERSIST_DIR, else $XDG_RUNTIME_DIR/dexp, else /tmp/dexp-UID/persist).

  ls              List the connections that answer (dead ones are cleaned up)
  close HOST...   Close the connections to these hosts (name or address)
  close --all     Close every one

Options:
      --all             With close: every connection
      --json            With ls: print JSON
  -h, --help            Show this help

Exit status: 0 on success, 2 for bad usage.`;

async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parse("connections", args, {
    all: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action === "ls") {
    if (rest.length > 0 || v.all) throw new UsageError("'ls' takes no host names and no --all");
    const list = await persistedConnections();
    if (v.json) {
      console.log(JSON.stringify(list, null, 2));
      return 0;
    }
    console.log(toText({
      columns: ["host", "destination", "user", "port", "persist", "created", "socket"],
      rows: list.map((c) => ({
        host: c.host,
        destination: c.destination,
        user: c.user ?? "",
        port: c.port ?? "",
        persist: `${c.persistSeconds}s`,
        created: c.created,
        socket: c.socket,
      })),
    }));
    console.log(`${list.length} persisted connection(s)`);
    return 0;
  }
  if (action === "close") {
    if (v.all && rest.length > 0) throw new UsageError("Give either --all or host names, not both");
    if (!v.all && rest.length === 0) {
      throw new UsageError("Missing hosts: use 'dexp connections close HOST...' or '--all'");
    }
    const closed = await closePersisted(v.all ? undefined : rest);
    console.log(`closed ${closed.length} persisted connection(s)`);
    return 0;
  }
  throw new UsageError(
    action === undefined
      ? "Missing action: use 'dexp connections ls' or 'dexp connections close --all'"
      : `Unknown action '${action}': use 'ls' or 'close'`,
  );
}

/** The `connections` verb. */
export const connectionsVerb: Verb = {
  run: (args) => guard("connections", () => run(args)),
};
