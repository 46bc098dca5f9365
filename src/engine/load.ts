/**
 * Loading experiment files and folders: what `dexp run PATHS...` does before it runs, as a
 * library function, so that a script can load the same experiments the same way.
 *
 * @module
 */

import { type Experiment, registeredExperiments } from "./registry.ts";
import { extname, join, resolve, toFileUrl } from "../process/mod.ts";

/**
 * Experiment files could not be loaded: a path is missing, a file does not type-check or
 * throws on import, or nothing was registered. The message says which and how to fix it.
 *
 * @example
 * ```ts
 * import { ExperimentLoadError, loadExperiments } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 *
 * await rejects(loadExperiments(["no/such/folder"]), ExperimentLoadError);
 * ```
 */
export class ExperimentLoadError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong and how to fix it.
   */
  constructor(message: string) {
    super(message);
    this.name = "ExperimentLoadError";
  }
}

/** Options of {@linkcode loadExperiments}. */
export interface LoadExperimentsOptions {
  /** Type-check the files first, as `deno check` does (default false). */
  check?: boolean;
}

const SKIP = /(^[._])|(_test\.[mc]?[jt]sx?$)/;
const CODE = new Set([".ts", ".mts", ".js", ".mjs", ".tsx", ".jsx"]);

/**
 * The experiment files that paths name: a file as given; a folder recursively, code files
 * in name order, skipping `*_test.ts` and names starting with `_` or `.`.
 *
 * @param paths Files and folders, in order.
 * @returns Absolute paths of the files, in load order.
 * @throws {ExperimentLoadError} If a path does not exist.
 *
 * @example
 * ```ts
 * import { experimentFiles } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * import { basename, join } from "node:path";
 *
 * const dir = await Deno.makeTempDir();
 * for (const f of ["b.ts", "a.ts", "a_test.ts", "_helpers.ts", "notes.md"]) {
 *   await Deno.writeTextFile(join(dir, f), "");
 * }
 * deepStrictEqual((await experimentFiles([dir])).map((f) => basename(f)), ["a.ts", "b.ts"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function experimentFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) await collectFiles(p, out);
  return out;
}

async function collectFiles(path: string, out: string[]): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ExperimentLoadError(`No such file or folder: '${path}': check the path`);
    }
    throw e;
  }
  if (info.isFile) {
    out.push(resolve(path));
    return;
  }
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(path)) entries.push(e);
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const e of entries) {
    if (SKIP.test(e.name)) continue;
    const p = join(path, e.name);
    if (e.isDirectory) await collectFiles(p, out);
    else if (e.isFile && CODE.has(extname(e.name))) out.push(resolve(p));
  }
}

// Type-checks the files as 'deno check' does (fast when its cache is warm), so that a typo in
// a method or parameter name is found before anything runs.
async function typeCheck(files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", ...files],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) return;
  const dec = new TextDecoder();
  const text = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
  throw new ExperimentLoadError(
    `Experiment files do not type-check: fix the errors below, or pass --no-check to run them anyway\n${text}`,
  );
}

/**
 * Imports experiment files and folders in order (see {@linkcode experimentFiles}) and
 * returns the experiments they registered, in registration order.
 *
 * @param paths Files and folders.
 * @param options `check: true` type-checks the files first.
 * @returns The experiments, in registration order.
 * @throws {ExperimentLoadError} If a path is missing, a file does not type-check or throws on
 *   import, or no experiment was registered.
 *
 * @example
 * ```ts ignore
 * import { loadExperiments, runExperiments } from "@dexp/dexp";
 * const summary = await runExperiments(await loadExperiments(["experiments/"]));
 * ```
 */
export async function loadExperiments(
  paths: readonly string[],
  options: LoadExperimentsOptions = {},
): Promise<Experiment[]> {
  const files = await experimentFiles(paths);
  if (options.check) await typeCheck(files);
  const before = new Set(registeredExperiments());
  for (const f of files) {
    try {
      await import(toFileUrl(f).href);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new ExperimentLoadError(`Experiment file '${f}' failed to load: ${msg}`);
    }
  }
  const found = registeredExperiments().filter((e) => !before.has(e));
  if (found.length === 0) {
    throw new ExperimentLoadError(
      `No experiment registered by ${
        paths.map((p) => `'${p}'`).join(", ")
      }: call experiment(name, options, fn) in those files`,
    );
  }
  return found;
}
