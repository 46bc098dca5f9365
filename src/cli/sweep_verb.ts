/**
 * `dexp sweep`: look at and reset a sweep directory written by `ParamSweeper`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Verb } from "./verb.ts";
import {
  formatSweepStatus,
  resetSweep,
  type ResetWhat,
  SweepFormatError,
  sweepStatus,
  SweepWriteError,
} from "../sweep/mod.ts";

const USAGE = `Usage:
  dexp sweep status DIR [--json] [--claims N]
  dexp sweep reset DIR --in-progress|--skipped|--failed|--all

status   counts (todo, in progress, done, skipped, failed), claims in progress with their
         owners (host, pid) and ages, failed and skipped combinations with their reasons,
         throughput over the last 1000 completions, and ETA.
         Takes a shared lock and writes nothing (works on a read-only file system).
  --json       print the status as JSON
  --claims N   list at most N claims, N failed and N skipped combinations (default 20)

reset    puts combinations back to todo for every process sharing DIR:
  --in-progress  release all claims (workers still running may still record their results
                if nobody claimed the combination since)
  --skipped     give skipped combinations another chance
  --failed      give failed combinations another chance
  --all         start over: done ones too; also starts over a directory whose history is
                missing or inconsistent (a removed journal), which everything else refuses

Claims of dead owners go back to todo by themselves (same host: pid gone; other hosts:
lease expired): reset --in-progress is never needed after a crash.`;

function usageError(message: string): number {
  console.error(`dexp sweep: ${message}: run 'dexp sweep --help' for usage`);
  return 2;
}

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      claims: { type: "string", default: "20" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    return usageError(`'status' takes one directory: received ${positionals.length} arguments`);
  }
  const maxClaims = Number(values.claims);
  if (!Number.isInteger(maxClaims) || maxClaims < 0) {
    return usageError(`'--claims' must be a non-negative integer: received '${values.claims}'`);
  }
  const st = await sweepStatus(positionals[0]);
  if (values.json) {
    console.log(JSON.stringify(
      {
        ...st,
        claims: st.claims.slice(0, maxClaims),
        skips: st.skips.slice(0, maxClaims),
        failures: st.failures.slice(0, maxClaims),
      },
      null,
      2,
    ));
  } else {
    console.log(formatSweepStatus(st, { maxClaims }));
  }
  return 0;
}

async function reset(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "in-progress": { type: "boolean", default: false },
      skipped: { type: "boolean", default: false },
      failed: { type: "boolean", default: false },
      all: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    return usageError(`'reset' takes one directory: received ${positionals.length} arguments`);
  }
  const flags = { "in-progress": "inProgress", skipped: "skipped", failed: "failed", all: "all" };
  const chosen = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => values[k]);
  if (chosen.length !== 1) {
    return usageError(
      `'reset' needs exactly one of --in-progress, --skipped, --failed, --all: received ${
        chosen.length === 0 ? "none" : chosen.map((k) => `--${k}`).join(" ")
      }`,
    );
  }
  const n = await resetSweep(positionals[0], flags[chosen[0]] as ResetWhat);
  console.log(`${n} combination${n === 1 ? "" : "s"} back to todo in ${positionals[0]}`);
  return 0;
}

/** The `dexp sweep` verb: `status` and `reset` of a sweep directory. */
export const sweepVerb: Verb = {
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      console.log(USAGE);
      return sub === undefined ? 2 : 0;
    }
    try {
      if (sub === "status") return await status(rest);
      if (sub === "reset") return await reset(rest);
    } catch (e) {
      if (e instanceof TypeError && (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
        return usageError(e.message);
      }
      if (
        e instanceof Deno.errors.NotFound || e instanceof SweepFormatError ||
        e instanceof SweepWriteError
      ) {
        console.error(`dexp sweep ${sub}: ${e.message}`);
        return 1;
      }
      if (e instanceof Deno.errors.PermissionDenied || (e as { code?: string })?.code) {
        // A system error (no permission, I/O error): the message names the file.
        console.error(`dexp sweep ${sub}: ${(e as Error).message}`);
        return 1;
      }
      throw e;
    }
    return usageError(`unknown subcommand '${sub}': expected 'status' or 'reset'`);
  },
};
