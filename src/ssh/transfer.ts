/**
 * File transfer with scp (default) or rsync, over the host's shared connection.
 *
 * Both tools give the same result: every named path is copied, literally (no remote glob
 * patterns, any byte in a name), into the destination folder, under its own name. A trailing
 * slash changes nothing: `dir` and `dir/` both copy the folder itself (`dest/dir/...`), as
 * `scp -r` does. Local paths are made absolute (so `a:b` is a local name, not a host);
 * remote paths are relative to the login folder unless absolute, and a leading `~/` means
 * the login folder too. Two sources with the same name, which would land on one another,
 * are refused before anything is copied.
 *
 * One difference stays: scp copies what a symbolic link points to, rsync (`-a`) copies the
 * link itself; add `extraArgs: ["--copy-links"]` to rsync for scp's behaviour.
 *
 * @module
 */

import {
  basename,
  fillPlaceholders,
  type Launch,
  LaunchError,
  type LaunchSpec,
  quote,
  resolve,
  type Target,
} from "../process/mod.ts";
import { connectReason } from "./connect_reason.ts";
import { connect, destination } from "./connections.ts";
import type { Host } from "./host.ts";
import { DEFAULT_PARAMS, rsyncShell, sshPrefix } from "./params.ts";

/** Options of `put()` and `get()`. */
export interface TransferOptions {
  /** Use rsync instead of scp (rsync 3.0 or later must be installed on both ends). */
  rsync?: boolean;
  /**
   * Extra arguments for scp or rsync (e.g. `["--delete"]`). Options that change how paths
   * are read (scp's `-O`, rsync's `--old-args`) break the literal paths described above.
   */
  extraArgs?: readonly string[];
}

/** Which way files go. */
export type Direction = "put" | "get";

function remoteSpec(host: Host, path: string): string {
  const addr = destination(host);
  return `${addr.includes(":") ? `[${addr}]` : addr}:${path}`;
}

/**
 * A remote path as scp, rsync and the remote shell all read it the same way: `~` and a
 * leading `~/` mean the login folder, and a relative path starts with `./` (so a name like
 * `-x` is never an option).
 */
function remotePath(path: string): string {
  if (path === "~") return ".";
  if (path.startsWith("~/")) path = path.slice(2) === "" ? "." : path.slice(2);
  return path.startsWith("/") || path.startsWith("./") ? path : `./${path}`;
}

/** Backslash before the characters that glob(3) reads as a pattern, and before `\`. */
function escapeGlob(path: string): string {
  return path.replace(/[\\*?[\]]/g, "\\$&");
}

/**
 * The name a copied path gets in the destination folder: its last component, trailing
 * slashes ignored; `null` if it has none of its own (``, `/`, `.`, `..`, `~`).
 */
function finalName(path: string): string | null {
  const name = basename(path);
  return name === "" || name === "." || name === ".." || name === "~" ? null : name;
}

/**
 * Checks the sources of a transfer: each must name a file or folder of its own, and no two
 * may have the same name (they would land on one another in the destination folder).
 *
 * @param direction `put` (local sources, made absolute first) or `get` (remote sources).
 * @param sources The paths as given (placeholders may be left unfilled).
 * @returns Why the sources are refused, or `null` when they are fine.
 *
 * @example
 * ```ts
 * import { checkTransferSources } from "./transfer.ts";
 * import { match, strictEqual } from "node:assert";
 * match(checkTransferSources("get", ["/a/out.txt", "/b/out.txt"])!, /out.txt/); // the same name
 * strictEqual(checkTransferSources("get", ["/a/x.txt", "/b/y.txt"]), null);
 * ```
 */
export function checkTransferSources(
  direction: Direction,
  sources: readonly string[],
): string | null {
  const side = direction === "put" ? "Local" : "Remote";
  const byName = new Map<string, string[]>();
  for (const s of sources) {
    const name = finalName(direction === "put" && s !== "" ? resolve(s) : s);
    if (name === null) {
      return `${side} path '${s}' names no file or folder of its own: name the folder itself (e.g. '/data/run1'), not '', '/', '.', '..' or '~'`;
    }
    byName.set(name, [...(byName.get(name) ?? []), s]);
  }
  for (const [name, paths] of byName) {
    if (paths.length > 1) {
      return `${direction}() would copy ${paths.length} paths with the same name '${name}' into one folder, one over the other: ${
        paths.map((p) => `'${p}'`).join(", ")
      }: copy them into different folders, with one ${direction}() each`;
    }
  }
  return null;
}

/**
 * A host seen as the place a transfer runs from: its launch is a local scp or rsync.
 * `put()` and `get()` of a group make these; a backend does not need to.
 *
 * @example
 * ```ts ignore
 * import { hosts } from "@dexp/dexp";
 * await using nodes = hosts("n1", "n2");
 * const copy = nodes.put(["input.csv"], "/tmp/"); // GroupCommand<TransferTarget>
 * console.log(copy.targets.map((t) => t.label)); // one scp (or rsync) per host
 * await copy;
 * ```
 */
export class TransferTarget implements Target {
  /** The host. */
  readonly host: Host;
  /** `put` or `get`. */
  readonly direction: Direction;
  /** Sources: local paths for put, remote paths for get (`{host}` allowed). */
  readonly sources: readonly string[];
  /** Destination directory: remote for put, local for get (`{host}` allowed). */
  readonly dest: string;
  /** scp or rsync options. */
  readonly options: TransferOptions;

  /**
   * Describes a transfer.
   *
   * @param host The host.
   * @param direction `put` or `get`.
   * @param sources What to copy.
   * @param dest Where to.
   * @param options scp or rsync.
   */
  constructor(
    host: Host,
    direction: Direction,
    sources: readonly string[],
    dest: string,
    options: TransferOptions = {},
  ) {
    this.host = host;
    this.direction = direction;
    this.sources = sources;
    this.dest = dest;
    this.options = options;
  }

  /** The host's name. */
  get label(): string {
    return this.host.name;
  }

  /**
   * The command line shown in results.
   *
   * @returns A description like `put a.txt b/ -> n1:/tmp/`.
   */
  describe(): string {
    const arrow = this.direction === "put"
      ? `${this.sources.join(" ")} -> ${this.host.name}:${this.dest}`
      : `${this.host.name}:${this.sources.join(" ")} -> ${this.dest}`;
    return `${this.direction} ${arrow}`;
  }

  /**
   * Checks the local side, sets up the connection and returns the scp or rsync process.
   *
   * @param spec Only its placeholder values are used.
   * @returns The local process.
   * @throws {LaunchError} If a local file is missing or the host cannot be reached.
   */
  async launch(spec: LaunchSpec): Promise<Launch> {
    const vars = { host: this.host.name, ...spec.vars };
    const sources = this.sources.map((s) => fillPlaceholders(s, vars));
    const dest = fillPlaceholders(this.dest, vars);
    const refused = checkTransferSources(this.direction, sources);
    if (refused !== null) throw new LaunchError("spawn", refused);
    if (dest === "") {
      throw new LaunchError(
        "spawn",
        `The destination folder of ${this.direction}() is empty: name a folder, e.g. '.'`,
      );
    }
    // Local paths absolute: `a:b` is then a file here, not host `a`, for scp and rsync alike.
    const local = this.direction === "put" ? sources.map((s) => resolve(s)) : [resolve(dest)];
    if (this.direction === "put") {
      for (const [i, s] of sources.entries()) {
        try {
          await Deno.stat(local[i]);
        } catch {
          throw new LaunchError(
            "spawn",
            `Local file '${s}' does not exist (put copies existing files and folders)`,
          );
        }
      }
    } else {
      await Deno.mkdir(local[0], { recursive: true });
    }
    const control = await connect(this.host);
    const p = this.host.params;
    const ssh = p.ssh ?? DEFAULT_PARAMS.ssh;
    const remoteDir = remotePath(dest);
    if (this.direction === "put") {
      // Make the remote folder first, over the shared connection.
      const mk = await new Deno.Command(ssh, {
        args: [
          ...sshPrefix(p, { extra: control }),
          "-T",
          "--",
          destination(this.host),
          `mkdir -p -- ${quote(remoteDir)}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (mk.code !== 0) {
        const text = new TextDecoder().decode(mk.stderr);
        throw new LaunchError(
          mk.code === 255 ? "connect" : "spawn",
          `Could not create remote folder '${dest}': ${connectReason(text, p, this.host.address)}`,
          text,
        );
      }
    }
    const extra = [...(this.options.extraArgs ?? [])];
    // Sources without their trailing slashes: rsync would copy a folder's content for
    // `dir/`, scp the folder itself; both now copy the folder itself. Remote sources are
    // escaped for the glob(3) that both apply to them (scp's SFTP mode always, rsync only to
    // a path with a wildcard character); the remote shell never sees them: scp speaks SFTP
    // (-s) and rsync sends its arguments through its protocol (-s, --secluded-args).
    const trim = (path: string) => path.replace(/(.)\/+$/, "$1");
    if (this.options.rsync) {
      // rsync's receiver checks what it gets against the requested names, and reads a
      // backslash in a wildcard path wrongly there: it would refuse the file it asked for.
      const unfit = this.direction === "get"
        ? sources.find((s) => s.includes("\\") && /[*?[]/.test(s))
        : undefined;
      if (unfit !== undefined) {
        throw new LaunchError(
          "spawn",
          `rsync cannot copy remote path '${unfit}' literally (it has a backslash and one of * ? [): copy it with scp, without 'rsync: true'`,
        );
      }
      const from = this.direction === "put" ? local : sources.map((s) => {
        const r = trim(remotePath(s));
        return remoteSpec(this.host, /[*?[]/.test(r) ? escapeGlob(r) : r);
      });
      const to = this.direction === "put"
        ? remoteSpec(this.host, remoteDir.endsWith("/") ? remoteDir : remoteDir + "/")
        : local[0] + "/";
      return {
        program: p.rsync ?? DEFAULT_PARAMS.rsync,
        args: ["-a", "-s", "-e", rsyncShell(p, control), ...extra, "--", ...from, to],
      };
    }
    const from = this.direction === "put"
      ? local
      : sources.map((s) => remoteSpec(this.host, escapeGlob(trim(remotePath(s)))));
    const to = this.direction === "put" ? remoteSpec(this.host, remoteDir) : local[0];
    const address = this.host.address;
    return {
      program: p.scp ?? DEFAULT_PARAMS.scp,
      args: [
        "-r",
        "-p",
        "-s",
        ...sshPrefix(p, { extra: control, portFlag: "-P" }),
        ...extra,
        "--",
        ...from,
        to,
      ],
      classify(code: number, stderr: string) {
        if (code === 255) return { failure: "connect", reason: connectReason(stderr, p, address) };
        return null;
      },
    };
  }
}
