/**
 * Host list files: one host a line (with optional tags), or YAML with per-host attributes.
 *
 * @module
 */

import type { HostInput, HostSpec } from "./host.ts";
import { checkParams, type ConnectionParams } from "./params.ts";

/** What a host list file holds. */
export interface HostList {
  /** The hosts, in file order. */
  hosts: HostInput[];
  /** Parameters for every host (YAML `defaults:`). */
  defaults: ConnectionParams;
}

/**
 * Parses a host list. Plain text: one host a line, `#` starts a comment, words after the
 * host are tags (`gpu` or `rack=b3`):
 * ```
 * bob@n1:2222 gpu rack=b3
 * n2
 * ```
 * YAML: a list of hosts, or `{ defaults: {...}, hosts: [...] }`, each host a string or an
 * object with `address`, `name`, `user`, `port`, `keyfile`, `tags`, ...
 *
 * The YAML parser (the `yaml` npm package) is loaded only when a YAML list is read: it costs
 * about 25 ms, which a program with no YAML host file should not pay at its start.
 *
 * @param text The file's content.
 * @param source The file name, for messages and to tell YAML (`.yaml`, `.yml`) from text.
 * @returns The hosts and defaults.
 * @throws {TypeError} If the content is malformed; the message names the line or entry.
 *
 * @example
 * ```ts
 * import { parseHostList } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const list = await parseHostList("n1 gpu\nbob@n2:2222 rack=b3\n", "hosts.txt");
 * deepStrictEqual(list.hosts.length, 2);
 * ```
 */
export async function parseHostList(text: string, source = "host list"): Promise<HostList> {
  const yaml = /\.ya?ml$/i.test(source) || /^\s*(hosts|defaults)\s*:/m.test(text) ||
    /^\s*-\s/m.test(text);
  return yaml ? await parseYamlList(text, source) : parsePlain(text, source);
}

function parsePlain(text: string, source: string): HostList {
  const hosts: HostInput[] = [];
  for (const [n, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [address, ...words] = line.split(/\s+/);
    const tags: Record<string, string | boolean> = {};
    for (const w of words) {
      const eq = w.indexOf("=");
      if (eq === 0) throw new TypeError(`${source}:${n + 1}: tag "${w}" has no name`);
      if (eq > 0) tags[w.slice(0, eq)] = w.slice(eq + 1);
      else tags[w] = true;
    }
    hosts.push(words.length ? { address, tags } : address);
  }
  return { hosts, defaults: {} };
}

async function parseYamlList(text: string, source: string): Promise<HostList> {
  // A full specifier, not a bare "yaml" from deno.json's import map: that map applies only in
  // this repository, and a script or installed `dexp` elsewhere could not resolve it. A string
  // literal, so that `deno compile` includes the package.
  // deno-lint-ignore no-import-prefix
  const { parse } = await import("npm:yaml@^2.8.1");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new TypeError(`${source} is not valid YAML: ${(e as Error).message}`);
  }
  let list: unknown = doc;
  let defaults: ConnectionParams = {};
  if (doc && typeof doc === "object" && !Array.isArray(doc)) {
    const d = doc as Record<string, unknown>;
    for (const k of Object.keys(d)) {
      if (k !== "hosts" && k !== "defaults") {
        throw new TypeError(`${source}: unknown top-level key '${k}': use 'hosts' and 'defaults'`);
      }
    }
    list = d.hosts;
    defaults = checkParams((d.defaults ?? {}) as ConnectionParams, `${source} defaults`);
  }
  if (!Array.isArray(list)) {
    throw new TypeError(`${source}: expected a list of hosts, or 'hosts:' with a list`);
  }
  const hosts = list.map((h, i): HostInput => {
    if (typeof h === "string") return h;
    if (h && typeof h === "object" && typeof (h as HostSpec).address === "string") {
      return h as HostSpec;
    }
    throw new TypeError(
      `${source}: host ${i + 1} must be a string or an object with 'address': received ${
        JSON.stringify(h)
      }`,
    );
  });
  return { hosts, defaults };
}
