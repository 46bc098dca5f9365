/**
 * The `dexp` command line: a thin layer over the library.
 *
 * Run it as `deno run -A jsr:@dexp/dexp/cli --help`, or `deno task dexp --help` in this
 * repository.
 *
 * @module
 */

import { DEXP_VERSION } from "../process/mod.ts";
import type { Verb } from "./verb.ts";

/** The version of dexp (`deno.json`'s `version`; stated once, in `src/process/version.ts`). */
export const VERSION: string = DEXP_VERSION;

export type { Verb };

const verbs: Record<string, () => Promise<Verb>> = {};

/**
 * Registers a verb, loaded lazily so that `dexp --help` stays fast.
 *
 * @param name The verb as typed on the command line.
 * @param load Loads the verb's module.
 */
export function registerVerb(name: string, load: () => Promise<Verb>): void {
  verbs[name] = load;
}

/**
 * Runs the `dexp` command with the given arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code: 0 success, 1 failure of the work, 2 bad usage.
 */
export async function main(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    console.log(await usage());
    return verb === undefined ? 2 : 0;
  }
  if (verb === "--version" || verb === "-V") {
    console.log(`dexp ${VERSION}`);
    return 0;
  }
  const load = verbs[verb];
  if (!load) {
    console.error(`dexp: unknown verb '${verb}': run 'dexp --help' for the list of verbs`);
    return 2;
  }
  return await (await load()).run(rest);
}

async function usage(): Promise<string> {
  const lines = ["Usage: dexp <verb> [options]", "", "Verbs:"];
  for (const [name, load] of Object.entries(verbs)) {
    lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`);
  }
  lines.push("", "Run 'dexp <verb> --help' for a verb's options.");
  return lines.join("\n");
}

registerVerb("sweep", async () => (await import("./sweep_verb.ts")).sweepVerb);
registerVerb("run", async () => (await import("./run_verb.ts")).runVerb);
registerVerb("status", async () => (await import("./status_verb.ts")).statusVerb);
registerVerb("report", async () => (await import("./report_verb.ts")).reportVerb);
registerVerb("log", async () => (await import("./log_verb.ts")).logVerb);
registerVerb("hosts", async () => (await import("./hosts_verb.ts")).hostsVerb);
registerVerb("cancel", async () => (await import("./cancel_verb.ts")).cancelVerb);
registerVerb("jobs", async () => (await import("./jobs_verb.ts")).jobsVerb);
registerVerb("pool", async () => (await import("./pool_verb.ts")).poolVerb);
registerVerb("machine", async () => (await import("./machine_verb.ts")).machineVerb);
registerVerb("job", async () => (await import("./job_verb.ts")).jobVerb);
registerVerb(
  "connections",
  async () => (await import("./connections_verb.ts")).connectionsVerb,
);

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
