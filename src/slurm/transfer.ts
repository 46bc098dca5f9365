/**
 * `put()` and `get()` on a Slurm allocation without ssh: the files are streamed as a tar
 * archive through a job step's standard input or output (`tar | srun ... tar -x`, and back).
 *
 * @module
 */

import {
  basename,
  dirname,
  fillPlaceholders,
  type Launch,
  LaunchError,
  type LaunchSpec,
  quote,
  resolve,
  type Target,
} from "../process/mod.ts";
import type { SlurmNode } from "./node.ts";

/** Which way a transfer goes. */
export type SlurmDirection = "put" | "get";

/** The last component of a path, or null when it names no file of its own. */
function finalName(path: string): string | null {
  const trimmed = path.replace(/\/+$/, "");
  const name = trimmed.split("/").pop() ?? "";
  return name === "" || name === "." || name === ".." || name === "~" ? null : name;
}

/**
 * Why sources cannot be copied (a path without a name, two paths with one name), or null.
 *
 * @param direction `put` (local sources) or `get` (remote ones).
 * @param sources The paths.
 * @returns The message, or null when they can be copied.
 */
export function checkSlurmSources(
  direction: SlurmDirection,
  sources: readonly string[],
): string | null {
  const side = direction === "put" ? "Local" : "Remote";
  const seen = new Map<string, string>();
  for (const s of sources) {
    const name = finalName(direction === "put" && s !== "" ? resolve(s) : s);
    if (name === null) {
      return `${side} path '${s}' names no file or folder of its own: name the folder itself (e.g. '/data/run1'), not '', '/', '.', '..' or '~'`;
    }
    const other = seen.get(name);
    if (other !== undefined) {
      return `${direction}() would copy two paths with the same name '${name}' into one folder, one over the other: '${other}', '${s}': copy them into different folders, with one ${direction}() each`;
    }
    seen.set(name, s);
  }
  return null;
}

/** `-C DIR NAME` pairs for tar, one per path. */
function tarMembers(paths: readonly string[]): string {
  return paths.map((p) => {
    const trimmed = p.length > 1 ? p.replace(/\/+$/, "") : p;
    return `-C ${quote(dirname(trimmed))} ${quote(basename(trimmed))}`;
  }).join(" ");
}

/**
 * A node of an allocation seen as the place a transfer runs from: its launch is a local
 * `/bin/sh` that pipes tar into (or out of) a job step on the node. The step is the node's
 * own launch, so kill, timeouts and the allocation's end act on it as on any command.
 * `put()` and `get()` of an allocation make these; a backend does not need to.
 *
 * @example
 * ```ts ignore
 * import { slurmAllocate } from "@dexp/dexp";
 * await using nodes = await slurmAllocate({ nodes: 2, time: "10m" });
 * const copy = nodes.put(["input.csv"], "/tmp/{host}/"); // GroupCommand<SlurmTransferTarget>
 * console.log(copy.targets.map((t) => t.label)); // one tar stream per node
 * await copy;
 * ```
 */
export class SlurmTransferTarget implements Target {
  readonly #node: SlurmNode;
  readonly #direction: SlurmDirection;
  readonly #sources: readonly string[];
  readonly #dest: string;

  /**
   * Makes the target; `SlurmAllocation.put()` and `get()` do it for you.
   *
   * @param node The node.
   * @param direction `put` or `get`.
   * @param sources Local paths (`put`) or paths on the node (`get`).
   * @param dest The folder on the node (`put`) or here (`get`).
   * @internal
   */
  constructor(
    node: SlurmNode,
    direction: SlurmDirection,
    sources: readonly string[],
    dest: string,
  ) {
    this.#node = node;
    this.#direction = direction;
    this.#sources = sources;
    this.#dest = dest;
  }

  /** The node's name. */
  get label(): string {
    return this.#node.name;
  }

  /**
   * The command line shown in results.
   *
   * @returns A description like `put a.txt b/ -> n1:/tmp/`.
   */
  describe(): string {
    const n = this.#node.name;
    return this.#direction === "put"
      ? `put ${this.#sources.join(" ")} -> ${n}:${this.#dest}`
      : `get ${n}:${this.#sources.join(" ")} -> ${this.#dest}`;
  }

  /**
   * Checks the local side and returns the local shell that pipes tar through the step.
   *
   * @param spec Only its placeholder values and environment are used.
   * @returns The local process.
   * @throws {LaunchError} If a local file is missing, a path is refused, or the allocation
   *   has ended.
   */
  async launch(spec: LaunchSpec): Promise<Launch> {
    const vars = { host: this.#node.name, ...spec.vars };
    const sources = this.#sources.map((s) => fillPlaceholders(s, vars));
    const dest = fillPlaceholders(this.#dest, vars);
    const refused = checkSlurmSources(this.#direction, sources);
    if (refused !== null) throw new LaunchError("spawn", refused);
    if (dest === "") {
      throw new LaunchError(
        "spawn",
        `The destination folder of ${this.#direction}() is empty: name a folder, e.g. '.'`,
      );
    }
    // On the node, relative paths are relative to the home folder, as over ssh.
    const home = "cd || exit 1";
    let local: string;
    let remote: string;
    if (this.#direction === "put") {
      const paths = sources.map((s) => resolve(s));
      for (const [i, p] of paths.entries()) {
        try {
          await Deno.stat(p);
        } catch {
          throw new LaunchError(
            "spawn",
            `Local file '${sources[i]}' does not exist (put copies existing files and folders)`,
          );
        }
      }
      remote = `${home}\nmkdir -p -- ${quote(dest)} && exec tar -xpf - -C ${quote(dest)}`;
      local = `tar -cf - ${tarMembers(paths)} | "$@"`;
    } else {
      const to = resolve(dest);
      await Deno.mkdir(to, { recursive: true });
      remote = `${home}\nexec tar -cf - ${tarMembers(sources)}`;
      // The exit code of srun (the step) wins over tar's, without pipefail (dash has none).
      local = [
        `code=$( { { "$@"; echo "$?" >&3; } | tar -xpf - -C ${quote(to)} >&2; } 3>&1 )`,
        "t=$?",
        `[ "$code" = 0 ] || exit "\${code:-1}"`,
        `exit "$t"`,
      ].join("\n");
    }
    const step = await this.#node.launch({ ...spec, command: remote, cwd: undefined });
    return {
      ...step,
      program: "/bin/sh",
      args: ["-c", local, "sh", step.program, ...step.args],
    };
  }
}
