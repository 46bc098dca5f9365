/**
 * Names, ids and folders of detached jobs: validated so that no value can escape the job
 * folder or the shell word it is put in.
 *
 * @module
 */

import { quote } from "../process/mod.ts";

/** Where job folders go on a host unless told otherwise: under the login user's home. */
export const DEFAULT_JOBS_ROOT = "~/.dexp/jobs";

/** Where the boot id is read on a host unless a test says otherwise. */
export const DEFAULT_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";

const WORD = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks a job name: letters, digits, `.`, `_` and `-`, starting with a letter or digit, at
 * most 64 characters, so that it is a safe folder name and shell word.
 *
 * @param name The name.
 * @returns The same name.
 * @throws {TypeError} If the name is not valid; the message says why.
 *
 * @example
 * ```ts
 * import { checkJobName } from "./names.ts";
 * import { strictEqual, throws } from "node:assert";
 *
 * strictEqual(checkJobName("train-resnet.1"), "train-resnet.1");
 * throws(() => checkJobName("a b"), TypeError);
 * ```
 */
export function checkJobName(name: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 64 || !WORD.test(name)) {
    throw new TypeError(
      `Job name ${
        JSON.stringify(name)
      } is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * Checks a job id (a folder name under the jobs root): like a name, at most 128 characters.
 *
 * @param id The id.
 * @returns The same id.
 * @throws {TypeError} If the id is not valid.
 */
export function checkJobId(id: string): string {
  if (typeof id !== "string" || id.length === 0 || id.length > 128 || !WORD.test(id)) {
    throw new TypeError(
      `Job id ${
        JSON.stringify(id)
      } is not valid: expected letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit`,
    );
  }
  return id;
}

/**
 * Checks a folder on the host: absolute (`/...`) or under the home folder (`~/...`), without
 * `.` or `..` components, empty components or control characters.
 *
 * @param path The folder, as given by the user.
 * @param what What it is, for messages (e.g. `'root'`).
 * @returns The same path without a trailing slash.
 * @throws {TypeError} If the path is not valid.
 */
export function checkRemotePath(path: string, what: string): string {
  const bad = (why: string) =>
    new TypeError(`${what} ${JSON.stringify(path)} is not a valid folder on the host: ${why}`);
  if (typeof path !== "string" || path === "") throw bad("it is empty");
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) throw bad("it contains control characters");
  const p = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  let rest: string;
  if (p === "~") rest = "";
  else if (p.startsWith("~/")) rest = p.slice(2);
  else if (p.startsWith("/")) rest = p.slice(1);
  else throw bad("it must start with '/' or '~/'");
  if (rest !== "" && rest.split("/").some((c) => c === "" || c === "." || c === "..")) {
    throw bad("it must not contain '.', '..' or empty components");
  }
  return p;
}

/**
 * A checked folder as a shell word: `~/x y` becomes `"$HOME"/'x y'`, other paths are quoted.
 *
 * @param path A path accepted by {@linkcode checkRemotePath}.
 * @returns Shell text that expands to the path.
 */
export function shellPath(path: string): string {
  if (path === "~") return `"$HOME"`;
  if (path.startsWith("~/")) return `"$HOME"/${quote(path.slice(2))}`;
  return quote(path);
}

/**
 * Makes a fresh job id: the name, the UTC time and random letters, e.g.
 * `train-20261201T103000-k3x9q2`.
 *
 * @param name A checked job name.
 * @param at The time to put in the id.
 * @returns The id.
 */
export function newJobId(name: string, at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "");
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const rnd = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => alphabet[b % 36])
    .join("");
  return checkJobId(`${name}-${stamp}-${rnd}`);
}
