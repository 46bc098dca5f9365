/**
 * Where a command was written in the user's code (file:line:column, as zx shows it): the
 * first frame of a stack captured when the command started that is not dexp's own.
 * Capturing is cheap (an `Error` object, its stack formatted only if the command fails).
 *
 * @module
 */

// dexp's own files: everything under this package's `src/`, and its `mod.ts` files.
const ROOT = new URL("../../", import.meta.url).href;
const OWN = [`${ROOT}src/`, `${ROOT}mod.ts`];

const FRAME = /\(?((?:file|https?|jsr|npm):[^\s()]+?):(\d+):(\d+)\)?\s*$/;

/**
 * The call site of a captured stack: the first frame outside dexp and the runtime, shown as
 * a path relative to the current directory when it is below it.
 *
 * @param stack An `Error`'s `stack`.
 * @returns E.g. `tests/x_test.ts:12:5`, or null if no frame is the user's.
 * @example
 * ```ts
 * import { callSiteOf } from "./call_site.ts";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(callSiteOf("Error\n    at run (file:///home/me/exp.ts:12:5)"), "/home/me/exp.ts:12:5");
 * ```
 */
export function callSiteOf(stack: string | undefined): string | null {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    const m = line.match(FRAME);
    if (!m || OWN.some((own) => m[1].startsWith(own))) continue;
    return `${show(m[1])}:${m[2]}:${m[3]}`;
  }
  return null;
}

function show(url: string): string {
  if (!url.startsWith("file://")) return url;
  const path = decodeURIComponent(new URL(url).pathname);
  let cwd: string | undefined;
  try {
    cwd = Deno.cwd();
  } catch {
    // No read permission: the absolute path.
  }
  return cwd && path.startsWith(cwd + "/") ? path.slice(cwd.length + 1) : path;
}

/**
 * A message with the call site added after its first line (`    at file.ts:12:5`).
 *
 * @param message The error message.
 * @param site The call site, or null (the message is returned as it is).
 * @returns The message.
 */
export function withCallSite(message: string, site: string | null): string {
  if (site === null) return message;
  const nl = message.indexOf("\n");
  return nl < 0
    ? `${message}\n    at ${site}`
    : `${message.slice(0, nl)}\n    at ${site}${message.slice(nl)}`;
}
