// Argument parsing shared by the engine verbs: node:util parseArgs, with errors as usage errors.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolveRunDir, RunFolderError } from "../engine/mod.ts";
import { toFileUrl as fileUrlOf } from "../process/mod.ts";

/** A usage error: printed with the verb's name, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(
  verb: string,
  args: string[],
  options: O,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return {
      values: r.values as Record<string, string | boolean | string[] | undefined>,
      positionals: r.positionals,
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/\. To specify.*$/s, "") : String(e);
    throw new UsageError(`${msg}: run 'dexp ${verb} --help' for the options`);
  }
}

/** Runs a verb body, turning usage errors into exit status 2 with a message. */
export async function guard(verb: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`dexp ${verb}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

// A file URL for an absolute path.
export function toFileUrl(path: string): string {
  return fileUrlOf(path).href;
}

// A run folder given as itself or as its experiment folder (the engine's rule), a usage
// error when it is neither.
export async function latestRun(dir: string): Promise<string> {
  try {
    return await resolveRunDir(dir);
  } catch (e) {
    if (e instanceof RunFolderError) throw new UsageError(e.message);
    throw e;
  }
}
