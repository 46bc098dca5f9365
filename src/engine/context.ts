/**
 * The context of one attempt of one combination (`ctx`): hosts, parameters, folders, logger,
 * commands that are logged and stopped with the attempt, atomic result files, restarts.
 *
 * @module
 */

import { isAbsolute, join, normalize } from "node:path";
import type { Group } from "../action/group.ts";
import {
  GroupCommand,
  type GroupCommandInput,
  type RunningGroup,
} from "../action/group_command.ts";
import { Command } from "../process/command.ts";
import type { OutputSinkFactory } from "../process/options.ts";
import type { RunningProcess } from "../process/running.ts";
import type { Target } from "../process/target.ts";
import type { Combination, JsonValue } from "./_sweep.ts";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
import type { Logger } from "./log.ts";

/** Thrown by `ctx.restart()`: the attempt ends and another one is asked for. */
export class RestartRequest extends Error {
  /**
   * Makes the request.
   *
   * @param reason Why another attempt is needed.
   */
  constructor(reason: string) {
    super(reason);
    this.name = "RestartRequest";
  }
}

/** A row of results: column names mapped to JSON values. */
export type Row = Record<string, JsonValue>;

/** What the runner gives a context (internal). */
export interface ContextInit<H extends Group> {
  experiment: string;
  hosts: H;
  params: Combination;
  name: string;
  dir: string;
  runDir: string;
  attempt: number;
  maxRestarts: number;
  signal: AbortSignal;
  log: Logger;
  /** Where the raw output of `ctx.run` commands goes, per stream of each process. */
  output: OutputSinkFactory;
}

type Handle = RunningGroup | RunningProcess;

/** The context of one attempt of one combination, passed to the experiment body. */
export class ExperimentContext<H extends Group = Group> {
  /** The experiment's name. */
  readonly experiment: string;
  /** The hosts of the experiment. */
  readonly hosts: H;
  /** The parameters of this combination. */
  readonly params: Combination;
  /** The combination's filesystem-safe name, e.g. `a=1_b=2`. */
  readonly name: string;
  /** The combination's result folder (exists). */
  readonly dir: string;
  /** The run's folder: `<results>/<experiment>/<run-id>`. */
  readonly runDir: string;
  /** The attempt number, 1 for the first. */
  readonly attempt: number;
  /** The most restarts allowed: attempts go up to `maxRestarts + 1`. */
  readonly maxRestarts: number;
  /** Aborted when the attempt times out or the run is interrupted. */
  readonly signal: AbortSignal;
  /** Logs to the combination's log, the run's log and the display. */
  readonly log: Logger;
  readonly #output: OutputSinkFactory;
  readonly #running = new Set<Handle>();

  /**
   * Made by the runner.
   *
   * @param init The context's values.
   */
  constructor(init: ContextInit<H>) {
    this.experiment = init.experiment;
    this.hosts = init.hosts;
    this.params = init.params;
    this.name = init.name;
    this.dir = init.dir;
    this.runDir = init.runDir;
    this.attempt = init.attempt;
    this.maxRestarts = init.maxRestarts;
    this.signal = init.signal;
    this.log = init.log;
    this.#output = init.output;
  }

  /**
   * Starts a command whose output goes to the combination's log (raw, chunk by chunk; the
   * display shows a sample of it), and which
   * is stopped when the attempt ends, times out or the run is interrupted. A string, argv or
   * per-host function runs on every host of `ctx.hosts`; a builder (`cmd(...)`,
   * `hosts.where(...).run(...)`) runs as built.
   *
   * @param command The command.
   * @returns The running handle: await it for the result, or `kill()` it.
   * @throws {TypeError} If the attempt was already aborted.
   */
  run(command: Command): RunningProcess;
  /**
   * Starts a command on every host of `ctx.hosts` (a string, argv or per-host function), or
   * a group command as built; its output goes to the logs and it is stopped with the attempt.
   *
   * @param command The command.
   * @returns The running group: await it for the {@linkcode GroupResult}, or `kill()` it.
   * @throws {TypeError} If the attempt was already aborted.
   */
  run(command: GroupCommandInput<Target> | GroupCommand<Target>): RunningGroup;
  run(command: GroupCommandInput<Target> | GroupCommand<Target> | Command): Handle {
    if (this.signal.aborted) {
      throw new TypeError(
        `Cannot start a command: the attempt of '${this.name}' was stopped (${
          String(this.signal.reason)
        })`,
      );
    }
    const out = this.#output;
    let handle: Handle;
    if (command instanceof Command) {
      handle = command.onOutput(out).quiet().spawn();
    } else {
      const gc = command instanceof GroupCommand
        ? command
        : (this.hosts.run(command as GroupCommandInput) as GroupCommand<Target>);
      handle = gc.onOutput(out).quiet().spawn();
    }
    this.#running.add(handle);
    const forget = () => this.#running.delete(handle);
    (handle as PromiseLike<unknown>).then(forget, forget);
    return handle;
  }

  /**
   * Ends this attempt and asks for another one (counted against `maxRestarts`).
   *
   * @param reason Why; written to the log.
   * @returns Never: it throws.
   * @throws {RestartRequest} Always.
   */
  restart(reason = "restart requested"): never {
    throw new RestartRequest(reason);
  }

  /**
   * The path of a file in the combination's folder.
   *
   * @param name A relative path.
   * @returns The absolute path.
   * @throws {TypeError} If the path leaves the folder.
   */
  path(name: string): string {
    const n = normalize(name);
    if (isAbsolute(n) || n === ".." || n.startsWith("../")) {
      throw new TypeError(
        `Result file '${name}' must be a relative path inside the combination's folder`,
      );
    }
    return join(this.dir, n);
  }

  /**
   * Writes a file in the combination's folder atomically.
   *
   * @param name A relative path.
   * @param data Text or bytes.
   * @returns The absolute path written.
   */
  async writeFile(name: string, data: string | Uint8Array): Promise<string> {
    const p = this.path(name);
    await writeFileAtomic(p, data);
    return p;
  }

  /**
   * Writes a JSON file in the combination's folder atomically.
   *
   * @param name A relative path.
   * @param value The value.
   * @returns The absolute path written.
   */
  async writeJson(name: string, value: unknown): Promise<string> {
    const p = this.path(name);
    await writeJsonAtomic(p, value);
    return p;
  }

  /**
   * Adds result rows for this combination (`rows.jsonl`), collected by `dexp report`. The
   * rows of a failed attempt are dropped when a later attempt starts.
   *
   * @param rows Rows of column values.
   * @returns Resolves when written.
   */
  async addRows(rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    await Deno.writeTextFile(
      join(this.dir, "rows.jsonl"),
      rows.map((r) => JSON.stringify(r)).join("\n") + "\n",
      { append: true },
    );
  }

  /**
   * Kills every command started by {@linkcode run} that still runs (internal).
   *
   * @returns How many were running.
   */
  async stopAll(): Promise<number> {
    const handles = [...this.#running];
    await Promise.all(handles.map((h) => h.kill().catch(() => {})));
    await Promise.all(handles.map((h) => Promise.resolve(h).catch(() => {})));
    return handles.length;
  }
}
