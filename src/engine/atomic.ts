/**
 * Atomic file writes: a temporary file in the same folder, then a rename.
 *
 * @module
 */

let counter = 0;
import { dirname, join } from "../process/mod.ts";

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Flush the file to disk before the rename (slower; survives power loss). Default false. */
  fsync?: boolean;
}

/**
 * Writes a file atomically: readers see the old content or the new, never a part. The parent
 * folder is created if needed.
 *
 * @param path The file.
 * @param data Text or bytes.
 * @param options Whether to fsync.
 * @returns Resolves when the file is in place.
 * @throws {Deno.errors.PermissionDenied} If the folder cannot be written.
 * @example
 * ```ts
 * import { writeFileAtomic } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, "hello\n");
 * deepStrictEqual(await Deno.readTextFile(`${dir}/a.txt`), "hello\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = join(dirname(path), `.${Deno.pid}.${++counter}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    await Deno.writeFile(tmp, bytes);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeFile(tmp, bytes);
  }
  try {
    if (options.fsync) {
      using f = await Deno.open(tmp, { write: true });
      await f.sync();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes a value as indented JSON atomically (see {@linkcode writeFileAtomic}).
 *
 * @param path The file.
 * @param value A JSON-serialisable value.
 * @param options Whether to fsync.
 * @returns Resolves when the file is in place.
 * @throws {TypeError} If the value cannot be serialised.
 * @example
 * ```ts
 * import { writeJsonAtomic } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/a.json`, { ok: true });
 * deepStrictEqual(JSON.parse(await Deno.readTextFile(`${dir}/a.json`)), { ok: true });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", options);
}

/** Reads a JSON file, or returns undefined if it is missing or unreadable. */
export async function readJsonMaybe<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}
