/**
 * POSIX path helpers with the semantics of `node:path` (posix) and `node:url`'s file URL
 * functions, for the paths dexp handles (local files on Linux and macOS).
 *
 * They are here so that importing dexp does not load Deno's Node compatibility layer: the
 * first `node:` module a program imports costs about 5 ms of start-up, which every cold
 * `deno run experiment.ts` would pay. `path_test.ts` checks them against `node:path`.
 *
 * @module
 */

/**
 * Normalizes a path: `.` and empty segments go, `..` takes away the segment before it (or
 * stays at the start of a relative path), a trailing slash is kept.
 *
 * @param path The path.
 * @returns The normalized path (`.` for an empty one).
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  let out = segments(path, absolute).join("/");
  if (out === "" && !absolute) out = ".";
  if (out !== "" && trailing) out += "/";
  return absolute ? `/${out}` : out;
}

function segments(path: string, absolute: boolean): string[] {
  const out: string[] = [];
  for (const s of path.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else out.push(s);
  }
  return out;
}

/**
 * Joins path segments and normalizes the result.
 *
 * @param parts The segments; empty ones are skipped.
 * @returns The joined path (`.` if there is nothing).
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/**
 * Resolves segments, right to left, into an absolute path, against the current directory if
 * none of them is absolute. The result has no trailing slash (but `/`).
 *
 * @param parts The segments.
 * @returns The absolute path.
 */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    if (parts[i] !== "") path = path === "" ? parts[i] : `${parts[i]}/${path}`;
  }
  if (!path.startsWith("/")) path = path === "" ? Deno.cwd() : `${Deno.cwd()}/${path}`;
  return `/${segments(path, true).join("/")}`;
}

/**
 * Whether a path is absolute.
 *
 * @param path The path.
 * @returns True if it starts with `/`.
 */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** The path without its trailing slashes (but a root of slashes stays `/`). */
function trimEnd(path: string): string {
  const t = path.replace(/\/+$/, "");
  return t === "" && path !== "" ? "/" : t;
}

/**
 * The folder part of a path: everything before the slash that ends the one before the last
 * segment (trailing slashes do not count).
 *
 * @param path The path.
 * @returns The folder (`.` if there is none, `/` at the root).
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  const root = path.startsWith("/");
  let end = -1;
  let inSegment = false;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] !== "/") inSegment = true;
    else if (inSegment) {
      end = i;
      break;
    }
  }
  if (end === -1) return root ? "/" : ".";
  return root && end === 1 ? "//" : path.slice(0, end);
}

/**
 * The last segment of a path.
 *
 * @param path The path.
 * @returns The last segment, without trailing slashes (empty for `/`).
 */
export function basename(path: string): string {
  const t = trimEnd(path);
  return t === "/" ? "" : t.slice(t.lastIndexOf("/") + 1);
}

/**
 * The extension of a path's last segment, from its last dot (not when that dot starts the
 * segment, and not for `..`).
 *
 * @param path The path.
 * @returns The extension with its dot (`.ts`), or empty.
 */
export function extname(path: string): string {
  const b = basename(path);
  const i = b.lastIndexOf(".");
  return i <= 0 || b === ".." ? "" : b.slice(i);
}

/**
 * The `file:` URL of a local path (made absolute first), with every character that a URL
 * would read otherwise percent-encoded (`%`, `#`, `?`, `\`, newlines, tabs...).
 *
 * @param path The path.
 * @returns The URL.
 */
export function toFileUrl(path: string): URL {
  const url = new URL("file:///");
  let abs = resolve(path);
  if (path.endsWith("/") && abs !== "/") abs += "/";
  url.pathname = abs.replaceAll("%", "%25").replaceAll("\\", "%5C").replaceAll("\n", "%0A")
    .replaceAll("\r", "%0D").replaceAll("\t", "%09");
  return url;
}

/**
 * The local path of a `file:` URL.
 *
 * @param url The URL (or its text).
 * @returns The path, percent-decoded.
 * @throws {TypeError} If it is not a `file:` URL of this machine, or encodes a `/`.
 */
export function fromFileUrl(url: string | URL): string {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "file:") throw new TypeError(`Not a file: URL: ${u.href}`);
  if (u.hostname !== "" && u.hostname !== "localhost") {
    throw new TypeError(`A file: URL of another host cannot be read here: ${u.href}`);
  }
  if (/%2f/i.test(u.pathname)) {
    throw new TypeError(`A file: URL must not encode '/' (%2F): ${u.href}`);
  }
  return decodeURIComponent(u.pathname);
}
