/**
 * File transfer with scp (default) or rsync, over the host's shared connection.
 *
 * @module
 */

import { fillPlaceholders } from "../process/placeholders.ts";
import { quote } from "../process/quote.ts";
import { type Launch, LaunchError, type LaunchSpec, type Target } from "../process/target.ts";
import { connect, destination, sshReason } from "./connections.ts";
import type { Host } from "./host.ts";
import { commonOptions, DEFAULT_PARAMS, rsyncShell } from "./params.ts";

/** Options of `put()` and `get()`. */
export interface TransferOptions {
  /** Use rsync instead of scp (rsync must be installed on both ends). */
  rsync?: boolean;
  /** Extra arguments for scp or rsync (e.g. `["--delete"]`). */
  extraArgs?: readonly string[];
}

/** Which way files go. */
export type Direction = "put" | "get";

function remoteSpec(host: Host, path: string): string {
  const addr = destination(host);
  return `${addr.includes(":") ? `[${addr}]` : addr}:${path}`;
}

/**
 * A host seen as the place a transfer runs from: its launch is a local scp or rsync.
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
    if (this.direction === "put") {
      for (const s of sources) {
        try {
          await Deno.stat(s);
        } catch {
          throw new LaunchError(
            "spawn",
            `Local file '${s}' does not exist (put copies existing files and folders)`,
          );
        }
      }
    } else {
      await Deno.mkdir(dest, { recursive: true });
    }
    const control = await connect(this.host);
    const p = this.host.params;
    const ssh = p.ssh ?? DEFAULT_PARAMS.ssh;
    const remoteDir = dest.endsWith("/") ? dest : dest + "/";
    if (this.direction === "put") {
      // Make the remote folder first, over the shared connection.
      const mk = await new Deno.Command(ssh, {
        args: [
          ...commonOptions(p),
          ...(p.port ? ["-p", String(p.port)] : []),
          ...control,
          "-T",
          destination(this.host),
          `mkdir -p -- ${quote(dest)}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (mk.code !== 0) {
        const text = new TextDecoder().decode(mk.stderr);
        throw new LaunchError(
          mk.code === 255 ? "connect" : "spawn",
          `Could not create remote folder '${dest}': ${sshReason(text)}`,
          text,
        );
      }
    }
    const extra = [...(this.options.extraArgs ?? [])];
    if (this.options.rsync) {
      const from = this.direction === "put"
        ? sources
        : sources.map((s) => remoteSpec(this.host, s));
      const to = this.direction === "put"
        ? remoteSpec(this.host, remoteDir)
        : (dest.endsWith("/") ? dest : dest + "/");
      return {
        program: p.rsync ?? DEFAULT_PARAMS.rsync,
        args: ["-a", "-e", rsyncShell(p, control), ...extra, "--", ...from, to],
      };
    }
    const from = this.direction === "put" ? sources : sources.map((s) => remoteSpec(this.host, s));
    const to = this.direction === "put" ? remoteSpec(this.host, remoteDir) : dest;
    return {
      program: p.scp ?? DEFAULT_PARAMS.scp,
      args: [
        "-r",
        "-p",
        ...commonOptions(p),
        ...(p.port ? ["-P", String(p.port)] : []),
        ...control,
        ...extra,
        "--",
        ...from,
        to,
      ],
      classify(code: number, stderr: string) {
        if (code === 255) return { failure: "connect", reason: sshReason(stderr) };
        return null;
      },
    };
  }
}
