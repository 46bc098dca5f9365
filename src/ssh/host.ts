/**
 * A remote host: where it is, how to log in, and its tags.
 *
 * @module
 */

import { Command, type Launch, type LaunchSpec, type Target } from "../process/mod.ts";
import { checkParams, type ConnectionParams } from "./params.ts";
import { launchRemote } from "./remote.ts";

/** Tags of a host: `{ gpu: true, rack: "b3" }`; a list of names becomes `name: true`. */
export type Tags = Readonly<Record<string, string | number | boolean>>;

/** A host given as an object. */
export interface HostSpec extends ConnectionParams {
  /** Host name or IP address to connect to (an ssh_config alias works too). */
  address: string;
  /** Short name in results and `{host}` paths (default: the address, with `:port`). */
  name?: string;
  /** Tags, for selection. */
  tags?: Tags | readonly string[];
}

/** What `hosts()` accepts for one host: `"n1"`, `"bob@n2:2222"`, `"[::1]:2200"`, or an object. */
export type HostInput = string | HostSpec;

/**
 * Parses `user@address:port` (IPv6 in brackets: `[::1]:22`).
 *
 * @param text The host string.
 * @returns Its parts.
 * @throws {TypeError} If the string is malformed.
 *
 * @example
 * ```ts
 * import { parseHostString } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(parseHostString("bob@[::1]:2200"), { user: "bob", address: "::1", port: 2200 });
 * ```
 */
export function parseHostString(text: string): { user?: string; address: string; port?: number } {
  const m = text.match(/^(?:([^@\s]+)@)?(?:\[([0-9A-Fa-f:.%\w]+)\]|([^@\s:\[\]]+))(?::(\d+))?$/);
  if (!m) {
    const why = text.trim() === ""
      ? "it is empty"
      : /\s/.test(text)
      ? "it contains white space"
      : text.split(":").length > 2 && !text.includes("[")
      ? "an IPv6 address must be in brackets, like [::1]:22"
      : "expected [user@]address[:port]";
    throw new TypeError(`Host "${text}" is not valid: ${why}`);
  }
  const [, user, v6, name, port] = m;
  if ((user ?? "").startsWith("-") || (name ?? "").startsWith("-")) {
    throw new TypeError(
      `Host "${text}" is not valid: a user or address cannot start with '-' (ssh would read it as an option)`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f'"`\\$;&|<>()*?]/.test(text)) {
    throw new TypeError(
      `Host "${text}" is not valid: it contains a quote, control or shell character; expected [user@]address[:port]`,
    );
  }
  const out: { user?: string; address: string; port?: number } = { address: v6 ?? name };
  if (user) out.user = user;
  if (port !== undefined) {
    const n = Number(port);
    if (n < 1 || n > 65535) {
      throw new RangeError(`Port of host "${text}" must be from 1 to 65535: received ${port}`);
    }
    out.port = n;
  }
  return out;
}

function toTags(tags: Tags | readonly string[] | undefined, where: string): Tags {
  if (tags === undefined) return {};
  if (Array.isArray(tags)) {
    return Object.fromEntries((tags as readonly string[]).map((t) => [String(t), true]));
  }
  if (typeof tags !== "object" || tags === null) {
    throw new TypeError(`'tags' of ${where} must be a list of names or a map: received ${tags}`);
  }
  return tags as Tags;
}

/**
 * Checks that a host name can be used as one path component (`{host}` in file sinks and
 * transfer destinations): not empty, not `.` or `..`, no `/`, backslash or control character.
 *
 * @param name The host name.
 * @param where Which host, for messages.
 * @returns The name.
 * @throws {TypeError} If it cannot.
 */
export function checkHostName(name: string, where = `host "${name}"`): string {
  if (
    typeof name !== "string" || name === "" || name === "." || name === ".." ||
    // deno-lint-ignore no-control-regex
    /[\/\\\x00-\x1f\x7f]/.test(name)
  ) {
    throw new TypeError(
      `Name ${
        JSON.stringify(name)
      } of ${where} cannot be used in {host} paths: give the host a 'name' without '/', '\\' or control characters that is not '.' or '..'`,
    );
  }
  return name;
}

/**
 * A remote host, and a target for commands. Immutable.
 *
 * @example
 * ```ts
 * import { Host } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const h = new Host("bob@n2:2222", { keyfile: "~/.ssh/lab" });
 * strictEqual(h.address, "n2");
 * strictEqual(h.user, "bob");
 * strictEqual(h.port, 2222);
 * strictEqual(h.params.keyfile, "~/.ssh/lab");
 * strictEqual(h.run("uname -r").target, h); // a Command, run over ssh when awaited
 * ```
 */
export class Host implements Target {
  /** Short name in results and `{host}` paths. */
  readonly name: string;
  /** Host name or address to connect to. */
  readonly address: string;
  /** Tags for selection. */
  readonly tags: Tags;
  /** Parameters given for this host itself (they win over the group's). */
  readonly own: ConnectionParams;
  /** Parameters of the group (`hosts(...).with(...)`). */
  readonly defaults: ConnectionParams;

  /**
   * Makes a host from a string or an object.
   *
   * @param input `"n1"`, `"bob@n2:2222"`, `"[::1]:2200"` or a {@linkcode HostSpec}.
   * @param defaults Group parameters.
   * @throws {TypeError} If the input is malformed.
   */
  constructor(input: HostInput, defaults: ConnectionParams = {}) {
    if (typeof input === "string") {
      const { user, address, port } = parseHostString(input);
      this.address = address;
      this.own = { ...(user ? { user } : {}), ...(port ? { port } : {}) };
      this.tags = {};
      this.name = checkHostName(port ? `${address}:${port}` : address);
    } else if (input && typeof input === "object" && typeof input.address === "string") {
      const { address, name, tags, ...params } = input;
      const where = `host "${name ?? address}"`;
      // Allow "bob@addr:port" in address too.
      const parsed = parseHostString(address);
      this.address = parsed.address;
      this.own = checkParams({
        ...(parsed.user ? { user: parsed.user } : {}),
        ...(parsed.port ? { port: parsed.port } : {}),
        ...params,
      }, where);
      this.tags = toTags(tags, where);
      this.name = checkHostName(
        name ?? (this.own.port ? `${this.address}:${this.own.port}` : this.address),
        `host "${address}"`,
      );
    } else {
      throw new TypeError(
        `A host must be a string like "bob@n2:2222" or an object with an 'address': received ${
          JSON.stringify(input)
        }`,
      );
    }
    this.defaults = defaults;
  }

  /** The name shown in results: same as `name`. */
  get label(): string {
    return this.name;
  }

  /**
   * Starts a command here through ssh (used by the process layer).
   *
   * @param spec The command.
   * @returns The local ssh process to start.
   */
  launch(spec: LaunchSpec): Promise<Launch> {
    return launchRemote(this, spec);
  }

  /**
   * A command on this host alone.
   *
   * @param command A shell line (run by the login shell) or an argv array (quoted).
   * @returns A lazy command; await it for a {@linkcode ProcessResult}.
   */
  run(command: string | readonly string[]): Command {
    return new Command(this, command);
  }

  /** The effective parameters: the group's, overridden by the host's own. */
  get params(): ConnectionParams {
    const merged = { ...this.defaults, ...this.own };
    if (this.defaults.options || this.own.options) {
      merged.options = { ...this.defaults.options, ...this.own.options };
    }
    return merged;
  }

  /** The login name, if set. */
  get user(): string | undefined {
    return this.params.user;
  }

  /** The port, if set. */
  get port(): number | undefined {
    return this.params.port;
  }

  /**
   * A copy of this host with other group parameters.
   *
   * @param defaults The group's parameters.
   * @returns The new host.
   */
  withDefaults(defaults: ConnectionParams): Host {
    const h = Object.create(Host.prototype) as { -readonly [K in keyof Host]: Host[K] };
    Object.assign(h, this, { defaults });
    return h as Host;
  }

  /** `user@address:port`, as written on a command line. */
  toString(): string {
    const p = this.params;
    const addr = this.address.includes(":") ? `[${this.address}]` : this.address;
    return `${p.user ? p.user + "@" : ""}${addr}${p.port ? ":" + p.port : ""}`;
  }
}
