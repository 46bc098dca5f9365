/**
 * Results copied back: after a job ended, the paths it named on its stdout (`RESULTS: <path>`,
 * expjobserver's convention) and the job's declared output paths are fetched from its host
 * into `<results>/<job>/` with the transfer layer (rsync), then checked against the host (every
 * path exists; the same number of files and bytes here as there). The copy lands in a temporary
 * folder renamed into place only after the check, so `<results>/<job>/` is complete or absent.
 * A failed copy throws {@linkcode CopyBackError}; the caller retries it without rerunning the
 * job.
 *
 * @module
 */

import { Hosts } from "../action/mod.ts";
import { basename, quote } from "../process/mod.ts";
import type { Host } from "../ssh/mod.ts";

/** The line prefix a job prints to name a results path. */
export const RESULTS_PREFIX = "RESULTS: ";

/**
 * The results paths a job named on its stdout, in order, without duplicates.
 *
 * @param stdout The job's standard output.
 * @returns The paths after `RESULTS: `.
 *
 * @example
 * ```ts
 * import { resultsPaths } from "./copy_back.ts";
 * console.log(resultsPaths("hi\nRESULTS: out/a.csv\n")); // ["out/a.csv"]
 * ```
 */
export function resultsPaths(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith(RESULTS_PREFIX)) continue;
    const p = line.slice(RESULTS_PREFIX.length).trim();
    if (p && !out.includes(p)) out.push(p);
  }
  return out;
}

/** What to copy back. */
export interface CopyBackOptions {
  /** The local results folder: the copy goes to `<resultsDir>/<job>/`. */
  readonly resultsDir: string;
  /** The job's id (the folder name). */
  readonly job: string;
  /** Paths on the host (relative ones from the login folder). */
  readonly paths: readonly string[];
}

/** A finished copy. */
export interface CopyBackOutcome {
  /** The local folder. */
  readonly dir: string;
  /** Files copied. */
  readonly files: number;
  /** Bytes copied. */
  readonly bytes: number;
}

/** A copy that failed or did not match the host; retry it, the job need not run again. */
export class CopyBackError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "CopyBackError";
  }
}

function checkJobFolder(job: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(job)) {
    throw new TypeError(
      `A job id used as a results folder must be a word of letters, digits and ._-: received ${
        JSON.stringify(job)
      }`,
    );
  }
  return job;
}

function shellPath(p: string): string {
  if (p === "~") return '"$HOME"';
  if (p.startsWith("~/")) return `"$HOME"/${quote(p.slice(2))}`;
  return quote(p.startsWith("/") ? p : `./${p}`);
}

async function localCount(path: string): Promise<{ files: number; bytes: number }> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch {
    return { files: 0, bytes: -1 };
  }
  if (st.isFile) return { files: 1, bytes: st.size };
  if (!st.isDirectory) return { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for await (const e of Deno.readDir(path)) {
    const c = await localCount(`${path}/${e.name}`);
    files += c.files;
    bytes += Math.max(0, c.bytes);
  }
  return { files, bytes };
}

/**
 * Copies a job's results from its host and checks them.
 *
 * @param host The host the job ran on.
 * @param options Results folder, job id, paths.
 * @returns Where the copy is, how many files and bytes.
 * @throws {CopyBackError} If a path is missing on the host, the host cannot be reached, the
 *   transfer failed, or the copy does not match the host.
 */
export async function copyBack(host: Host, options: CopyBackOptions): Promise<CopyBackOutcome> {
  const job = checkJobFolder(options.job);
  const dir = `${options.resultsDir}/${job}`;
  const paths = [...new Set(options.paths)];
  const names = new Map<string, string>();
  for (const p of paths) {
    const n = basename(p);
    if (!n || n === "." || n === ".." || n === "~") {
      throw new CopyBackError(`Results path ${JSON.stringify(p)} names no file or folder`);
    }
    const other = names.get(n);
    if (other !== undefined) {
      throw new CopyBackError(
        `Results paths ${JSON.stringify(other)} and ${
          JSON.stringify(p)
        } have the same name "${n}": they would land on one another in ${dir}`,
      );
    }
    names.set(n, p);
  }
  await Deno.mkdir(options.resultsDir, { recursive: true });
  const node = new Hosts([host]);
  // What the host has: files and bytes per path.
  const expected: { files: number; bytes: number }[] = [];
  if (paths.length) {
    const script = paths.map((p, i) =>
      `if [ -e ${shellPath(p)} ]; then find ${
        shellPath(p)
      } -type f -printf '%s\\n' | awk '{n++; s+=$1} END {print "size ${i}", n+0, s+0}'; else echo "missing ${i}"; fi`
    ).join("\n");
    const r = (await node.run(script).quiet().noThrow()).results[0];
    if (!r.ok) {
      throw new CopyBackError(
        `Cannot list the results of job ${job} on ${host.name}: ${r.reason ?? r.stderr.trim()}`,
      );
    }
    for (const line of r.stdout.split("\n")) {
      const f = line.trim().split(" ");
      if (f[0] === "missing") {
        throw new CopyBackError(
          `Results path ${
            JSON.stringify(paths[Number(f[1])])
          } of job ${job} does not exist on ${host.name}`,
        );
      }
      if (f[0] === "size") expected[Number(f[1])] = { files: Number(f[2]), bytes: Number(f[3]) };
    }
    if (paths.some((_, i) => expected[i] === undefined)) {
      throw new CopyBackError(`Cannot list the results of job ${job} on ${host.name}: ${r.stdout}`);
    }
  }
  const tmp = `${options.resultsDir}/.${job}.partial-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    if (paths.length) {
      const r = (await node.get(paths, tmp, { rsync: true }).noThrow()).results[0];
      if (!r.ok) {
        throw new CopyBackError(
          `Copying the results of job ${job} from ${host.name} failed: ${
            r.reason ?? (r.stderr.trim() || `exit code ${r.exitCode}`)
          }`,
        );
      }
    }
    let files = 0;
    let bytes = 0;
    for (let i = 0; i < paths.length; i++) {
      const got = await localCount(`${tmp}/${basename(paths[i])}`);
      const want = expected[i];
      if (got.files !== want.files || got.bytes !== want.bytes) {
        throw new CopyBackError(
          `The copy of ${
            JSON.stringify(paths[i])
          } of job ${job} does not match ${host.name}: ${got.files} files, ${
            Math.max(0, got.bytes)
          } bytes here, ${want.files} files, ${want.bytes} bytes there`,
        );
      }
      files += got.files;
      bytes += got.bytes;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir);
    return { dir, files, bytes };
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e instanceof CopyBackError ? e : new CopyBackError((e as Error).message);
  }
}
