/**
 * `hosts(...)`: a group of remote hosts, with ssh fan-out, transfers and a health check.
 *
 * @module
 */

import { fillPlaceholders, resolve } from "../process/mod.ts";
import {
  checkParams,
  checkTransferSources,
  closeConnections,
  type ConnectionParams,
  Host,
  type HostInput,
  parseHostList,
  type TransferOptions,
  TransferTarget,
} from "../ssh/mod.ts";
import { Group } from "./group.ts";
import { GroupCommand } from "./group_command.ts";

/** One host's answer to {@linkcode Hosts.check}. */
export interface HostCheck {
  /** The host's name. */
  readonly host: string;
  /** Whether a command ran there. */
  readonly ok: boolean;
  /** Why not: ssh's complaint (refused, timeout, auth, host key) or the command's failure. */
  readonly reason: string | null;
  /** Time to connect and run `true`, in ms. */
  readonly duration: number;
}

/**
 * A group of remote hosts. Immutable: `with()`, `where()`, `tagged()`... return new groups.
 * `await using` closes its shared connections at the end of the block.
 *
 * @example
 * ```ts
 * import { hosts } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * // Nothing connects until a command is awaited (`await nodes.run("uname -r")`).
 * const nodes = hosts("n1", "bob@n2:2222").with({ keyfile: "~/.ssh/lab" });
 * deepStrictEqual([...nodes].map((h) => h.label), ["n1", "n2:2222"]);
 * strictEqual(nodes.host("n2:2222").user, "bob");
 * strictEqual(nodes.host("n2:2222").port, 2222);
 * strictEqual(nodes.named("n1").length, 1);
 * ```
 */
export class Hosts extends Group<Host> implements AsyncDisposable {
  /**
   * The same hosts with connection parameters for all of them (a host's own values win).
   *
   * @param params Connection parameters.
   * @returns A new group.
   * @throws {TypeError} On unknown keys.
   */
  with(params: ConnectionParams): Hosts {
    checkParams(params, "with()");
    return new Hosts(
      this.targets.map((h) => h.withDefaults({ ...h.defaults, ...params })),
    );
  }

  /**
   * The hosts that have a tag (and, if given, with that value).
   *
   * @param tag The tag name.
   * @param value The value it must have (default: any truthy value).
   * @returns A new group.
   */
  tagged(tag: string, value?: string | number | boolean): Hosts {
    return this.where((h) => value === undefined ? Boolean(h.tags[tag]) : h.tags[tag] === value);
  }

  /**
   * The hosts with these names, in the order given.
   *
   * @param names Host names.
   * @returns A new group.
   * @throws {RangeError} If a name is unknown.
   */
  named(...names: string[]): Hosts {
    return new Hosts(names.map((n) => {
      const h = this.targets.find((t) => t.name === n);
      if (!h) {
        throw new RangeError(
          `No host named "${n}" in this group: it has ${
            this.targets.map((t) => `"${t.name}"`).join(", ")
          }`,
        );
      }
      return h;
    }));
  }

  /**
   * The host with this name.
   *
   * @param name The host's name.
   * @returns The host.
   * @throws {RangeError} If there is none.
   */
  host(name: string): Host {
    return this.named(name).at(0);
  }

  /**
   * Copies local files and folders (recursively, modes kept) into a folder on every host,
   * in parallel. The folder is created; `{host}` in paths is filled per host. Each path lands
   * under its own name (`dir` and `dir/` both give `remoteDir/dir/...`), with scp and rsync
   * alike; remote folders are relative to the login folder unless absolute.
   *
   * @param localPaths Files and folders here.
   * @param remoteDir The folder on each host.
   * @param options `rsync: true` to use rsync; `extraArgs`.
   * @returns A lazy group command: await it for every host's result.
   * @throws {TypeError} If two paths have the same name (they would land on one another), or
   *   a path names no file or folder of its own (`/`).
   */
  put(
    localPaths: string | readonly string[],
    remoteDir: string,
    options: TransferOptions = {},
  ): GroupCommand<TransferTarget> {
    return this.#transfer("put", localPaths, remoteDir, options);
  }

  /**
   * Copies files and folders from every host into a local folder, in parallel. Use `{host}`
   * in `localDir` (e.g. `results/{host}/`) to keep hosts apart; folders are created. Remote
   * paths are literal (`a*b` is the file named `a*b`, never a pattern) and land under their
   * own names, as with {@linkcode Hosts.put}.
   *
   * @param remotePaths Paths on each host.
   * @param localDir The local folder (per host with `{host}`).
   * @param options `rsync: true` to use rsync; `extraArgs`.
   * @returns A lazy group command: await it for every host's result.
   * @throws {TypeError} If several hosts would write into the same folder: without `{host}`
   *   in `localDir`, or hosts with the same name (give them distinct names, or use `{i}`);
   *   if two paths have the same name, or a path names no file or folder (`.`, `/`).
   */
  get(
    remotePaths: string | readonly string[],
    localDir: string,
    options: TransferOptions = {},
  ): GroupCommand<TransferTarget> {
    if (this.length > 1 && !/\{(host|i)\}/.test(localDir)) {
      throw new TypeError(
        `get() from ${this.length} hosts into one folder "${localDir}" would mix their files: put {host} in it, e.g. "results/{host}/"`,
      );
    }
    // Hosts with one name (same address, other users or ports) would fill `{host}` alike and
    // copy over one another: refuse before anything is copied.
    const seen = new Map<string, Host>();
    this.targets.forEach((h, i) => {
      let folder: string;
      try {
        folder = resolve(fillPlaceholders(localDir, { host: h.name, i: String(i) }));
      } catch {
        return; // An unknown placeholder: each host's launch reports it.
      }
      const other = seen.get(folder);
      if (other) {
        throw new TypeError(
          `get() would copy hosts ${describeHost(other)} and ${
            describeHost(h)
          } into the same folder '${folder}': give each host a distinct 'name' (e.g. { address: "${h.address}", user: "bob", name: "bob@${h.address}" }) or put {i} in the folder`,
        );
      }
      seen.set(folder, h);
    });
    return this.#transfer("get", remotePaths, localDir, options);
  }

  #transfer(
    direction: "put" | "get",
    sources: string | readonly string[],
    dest: string,
    options: TransferOptions,
  ): GroupCommand<TransferTarget> {
    const paths = typeof sources === "string" ? [sources] : sources;
    if (paths.length === 0) {
      throw new TypeError(
        `${direction}() needs at least one ${direction === "put" ? "local" : "remote"} path`,
      );
    }
    const refused = checkTransferSources(direction, paths);
    if (refused !== null) throw new TypeError(refused);
    const targets = this.targets.map((h) => new TransferTarget(h, direction, paths, dest, options));
    return new GroupCommand(targets, (t) => t.describe()).quiet();
  }

  /**
   * Tells which hosts are reachable (connects and runs `true`), with the reason for each
   * that is not. Never throws for an unreachable host.
   *
   * @returns One check per host, in group order.
   */
  async check(): Promise<HostCheck[]> {
    const r = await this.run("true").quiet().noThrow();
    return r.results.map((x) => ({
      host: x.target,
      ok: x.ok,
      reason: x.ok ? null : (x.reason ?? `${x.failure}: ${x.stderr.trim() || x.exitCode}`),
      duration: x.duration,
    }));
  }

  /**
   * Closes the shared connections of these hosts. Commands still running on these hosts
   * (spawned and never awaited or killed) are stopped first, as `kill()` does, so that
   * nothing they started outlives the connection on the hosts.
   */
  async close(): Promise<void> {
    await closeConnections(this.targets);
  }

  /** Stops the commands still running on these hosts, then closes their shared connections
   * (`await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `"h1" (bob@10.0.0.1:2222)`: a host's name and where it logs in, for messages. */
function describeHost(h: Host): string {
  const p = h.params;
  const addr = h.address.includes(":") ? `[${h.address}]` : h.address;
  return `"${h.name}" (${p.user ? `${p.user}@` : ""}${addr}${p.port ? `:${p.port}` : ""})`;
}

/**
 * A group of remote hosts: strings like `"n1"`, `"bob@n2:2222"`, `"[::1]:2200"`, or objects
 * `{ address, user, port, keyfile, tags, ... }`.
 *
 * @param inputs The hosts (or arrays of them).
 * @returns The group; `.with({...})` sets connection parameters for all.
 * @throws {TypeError} If a host is malformed; the message says which and why.
 *
 * @example
 * ```ts ignore
 * import { hosts, sh } from "@dexp/dexp";
 * await using nodes = hosts("n1", "bob@n2:2222").with({ keyfile: "~/.ssh/lab" });
 * const r = await nodes.run("uname -r");
 * console.log(r.text());
 * await nodes.run((h, i) => sh`echo ${h.name} is number ${i}`);
 * ```
 */
export function hosts(...inputs: (HostInput | readonly HostInput[])[]): Hosts {
  const flat = inputs.flat() as HostInput[];
  return new Hosts(flat.map((h) => new Host(h)));
}

/**
 * Reads a host list file (one host a line with tags, or YAML) into a group.
 *
 * @param path The file.
 * @returns The group, with the file's `defaults` applied.
 * @throws {TypeError} If the file is malformed.
 * @throws {Deno.errors.NotFound} If the file does not exist.
 *
 * @example
 * ```ts
 * import { hostsFromFile } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const file = await Deno.makeTempFile();
 * await Deno.writeTextFile(file, "# the lab\nn1\nbob@n2:2222\n");
 * const nodes = await hostsFromFile(file);
 * deepStrictEqual([...nodes].map((h) => h.label), ["n1", "n2:2222"]);
 * await Deno.remove(file);
 * ```
 */
export async function hostsFromFile(path: string): Promise<Hosts> {
  const list = await parseHostList(await Deno.readTextFile(path), path);
  const h = hosts(...list.hosts);
  return Object.keys(list.defaults).length ? h.with(list.defaults) : h;
}
