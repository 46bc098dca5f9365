/**
 * `dexp machine add|ls|rm|quarantine|release`: the machines of a pool.
 *
 * @module
 */

import { formatDuration } from "../process/mod.ts";
import type { Machine } from "../pool/mod.ts";
import {
  cell,
  openFromArgs,
  parsePoolArgs,
  poolGuard,
  PoolUsageError,
  print,
  table,
} from "./_pool_cli.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp machine <action> [options] ...

Actions:
  add CLASS HOST...        Add machines to a class (state 'new': the dispatcher sets them up)
  ls                       List the machines: name, class, state, reason, failures, setup
  rm NAME...               Remove machines: no new job starts there
  quarantine NAME...       Keep machines out until released (--reason why)
  release NAME...          Put quarantined (or setup-failed) machines back
  setup NAME... [--force]  Run their class's setup now (dexp machine setup --help)

A HOST is [user@]address[:port], as everywhere in dexp (an ssh_config alias works too); the
machine's NAME is its address, with ':port' if given.

Options:
      --pool DIR          The pool directory (default: $DEXP_POOL)
      --class CLASS       ls: only machines of this class
      --all               ls: removed machines too
      --reason TEXT       rm, quarantine: why (kept, shown by ls)
      --json              Print JSON
  -h, --help              Show this help

Examples:
  dexp machine add gpu alice@node1 alice@node2:2222
  dexp machine quarantine node1 --reason 'fan broken'
  dexp machine release node1
  dexp machine ls --json

Exit status: 0 on success, 1 if the pool refused (no such machine, not quarantined) or could
not be read or written, 2 for bad usage or bad input (unknown class, bad host).`;

function row(m: Machine, now: number): string[] {
  return [
    m.name,
    m.class,
    m.state,
    formatDuration(now - m.since),
    String(m.infraFailures),
    m.setup ? (m.setup.ok === null ? "running" : m.setup.ok ? "ok" : "failed") : "",
    cell(m.reason, 60),
  ];
}

async function run(args: string[]): Promise<number> {
  if (args[0] === "setup") {
    return await (await import("./_dispatch_cli.ts")).machineSetupCli(args.slice(1));
  }
  return await poolGuard("machine", async () => {
    const { values: v, positionals } = parsePoolArgs("machine", args, {
      class: { type: "string" },
      all: { type: "boolean" },
      reason: { type: "string" },
      json: { type: "boolean" },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    const [action, ...rest] = positionals;
    const out = async (ms: Machine[], verb: string) => {
      if (v.json) await print(JSON.stringify(ms, null, 2));
      else for (const m of ms) console.log(`Machine '${m.name}' ${verb} (${m.state})`);
    };
    switch (action) {
      case "add": {
        const [cls, ...hosts] = rest;
        if (!cls || hosts.length === 0) {
          throw new PoolUsageError("Expected a class and hosts: dexp machine add CLASS HOST...");
        }
        await using pool = await openFromArgs(v);
        await out(await pool.addMachines(cls, hosts), `added to class '${cls}'`);
        return 0;
      }
      case "ls": {
        await using pool = await openFromArgs(v);
        const ms = await pool.machines({
          ...(v.class ? { class: v.class as string } : {}),
          removed: v.all === true,
        });
        if (v.json) await print(JSON.stringify(ms, null, 2));
        else {
          const now = Date.now();
          await print(table([
            ["machine", "class", "state", "since", "failures", "setup", "reason"],
            ...ms.map((m) => row(m, now)),
          ]));
        }
        return 0;
      }
      case "rm":
      case "quarantine":
      case "release": {
        if (rest.length === 0) {
          throw new PoolUsageError(`Expected machine names: dexp machine ${action} NAME...`);
        }
        await using pool = await openFromArgs(v);
        const done: Machine[] = [];
        const reason = v.reason as string | undefined;
        for (const name of rest) {
          done.push(
            action === "rm"
              ? await pool.removeMachine(name, reason)
              : action === "quarantine"
              ? await pool.quarantine(name, reason)
              : await pool.release(name),
          );
        }
        await out(
          done,
          action === "rm" ? "removed" : action === "quarantine" ? "quarantined" : "released",
        );
        return 0;
      }
      default:
        throw new PoolUsageError(
          `Unknown action '${
            action ?? ""
          }': use add, ls, rm, quarantine or release (dexp machine --help)`,
        );
    }
  });
}

/** The `dexp machine` verb. */
export const machineVerb: Verb = {
  run,
};
