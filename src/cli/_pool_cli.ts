// Shared by the pool verbs (`dexp pool`, `dexp machine`, `dexp job`): where the pool is,
// argument parsing, and how errors become exit codes. Imports only the pool layer, so that
// `dexp job ls` loads little.
//
// Exit codes: 0 success; 1 the pool refused the operation or could not be read or written
// (a job or machine in the wrong state, no such job, no pool, a newer format, disk full);
// 2 bad usage or bad input (unknown option or class, a bad host, an unknown {var}, an empty
// matrix value list).

import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  openPool,
  type Pool,
  PoolFormatError,
  PoolStateError,
  PoolWriteError,
} from "../pool/mod.ts";

/** A usage error: printed with the verb's name, exit status 2. */
export class PoolUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PoolUsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The values and positionals of a verb's arguments. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses arguments strictly; everything after `--` is positional. */
export function parsePoolArgs(verb: string, args: string[], options: Options): Parsed {
  try {
    const r = parseArgs({
      args,
      options: { ...options, pool: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return {
      values: r.values as Parsed["values"],
      positionals: r.positionals,
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/\. To specify.*$/s, "") : String(e);
    throw new PoolUsageError(
      `${msg}: run 'dexp ${verb} --help' for the options (a command with options goes after '--')`,
    );
  }
}

/** The pool directory: `--pool DIR`, else `$DEXP_POOL`. */
export function poolDir(values: Parsed["values"]): string {
  const dir = (values.pool as string | undefined) ?? Deno.env.get("DEXP_POOL");
  if (!dir) {
    throw new PoolUsageError(
      "No pool given: pass --pool DIR or set DEXP_POOL=DIR (make one with 'dexp pool init DIR')",
    );
  }
  return dir;
}

/** Opens the pool named by `--pool` or `$DEXP_POOL`. */
export async function openFromArgs(values: Parsed["values"]): Promise<Pool> {
  return await openPool(poolDir(values));
}

/** Runs a verb body: prints errors with the verb's name and maps them to exit codes. */
export async function poolGuard(verb: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof PoolUsageError || e instanceof TypeError || e instanceof RangeError) {
      console.error(`dexp ${verb}: ${e.message}`);
      return 2;
    }
    if (
      e instanceof PoolStateError || e instanceof PoolFormatError ||
      e instanceof PoolWriteError || e instanceof Deno.errors.NotFound
    ) {
      console.error(`dexp ${verb}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** Parses job ids: `12`, `3-7` (a range), several per argument separated by commas. */
export function parseIds(args: readonly string[]): number[] {
  if (args.length === 0) throw new PoolUsageError("Give at least one job id (e.g. 12 or 3-7)");
  const out: number[] = [];
  for (const a of args) {
    for (const part of a.split(",")) {
      const m = part.match(/^(\d+)(?:-(\d+))?$/);
      if (!m) {
        throw new PoolUsageError(
          `'${part}' is not a job id: give numbers like 12, ranges like 3-7, or lists like 1,4`,
        );
      }
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) {
        throw new PoolUsageError(`Range '${part}' ends before it starts: write ${hi}-${lo}`);
      }
      for (let i = lo; i <= hi; i++) out.push(i);
    }
  }
  return out;
}

/** A positive integer option, or the default. */
export function positiveInt(value: unknown, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new PoolUsageError(`--${name} must be a positive integer: received '${value}'`);
  }
  return n;
}

/** `K=V` pairs into a record. */
export function keyValues(list: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new PoolUsageError(`${what} '${kv}' must be written NAME=VALUE`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** Cells in columns, two spaces apart, no trailing spaces; the header first. */
export function table(grid: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of grid) {
    for (let i = 0; i < row.length; i++) {
      if ((widths[i] ?? 0) < row[i].length) widths[i] = row[i].length;
    }
  }
  const spaces = " ".repeat(Math.max(0, ...widths) + 2);
  const parts: string[] = [];
  for (const row of grid) {
    // The last non-empty cell ends the line: no trailing spaces.
    let end = row.length - 1;
    while (end > 0 && row[end] === "") end--;
    for (let i = 0; i < end; i++) {
      parts.push(row[i], spaces.slice(0, widths[i] + 2 - row[i].length));
    }
    parts.push(row[end], "\n");
  }
  parts.pop();
  return parts.join("");
}

/** Writes text to stdout in one go (faster than console.log for large tables). */
export async function print(text: string): Promise<void> {
  const data = new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n");
  let n = 0;
  while (n < data.length) n += await Deno.stdout.write(data.subarray(n));
}

/** One line: newlines and tabs as spaces, cut to `max` characters with an ellipsis. */
export function cell(s: string | null | undefined, max = Infinity): string {
  if (s === null || s === undefined) return "";
  const one = /[\r\n\t]/.test(s) ? s.replaceAll(/[\r\n\t]+/g, " ") : s;
  return one.length > max ? one.slice(0, max - 1) + "…" : one;
}
