/**
 * A group of targets: the same API over one machine or many.
 *
 * @module
 */

import { type Launch, type LaunchSpec, LOCAL, type Target } from "../process/mod.ts";
import { GroupCommand, type GroupCommandInput } from "./group_command.ts";

/**
 * An ordered, immutable list of targets that commands fan out to.
 *
 * @example
 * ```ts
 * import { Group, local } from "@dexp/dexp";
 * import { deepStrictEqual, ok } from "node:assert";
 *
 * const slots = local(2);
 * ok(slots instanceof Group);
 * deepStrictEqual((await slots.run("echo hi").quiet()).text(), ["hi", "hi"]);
 * deepStrictEqual([...slots.slice(1)].map((t) => t.label), [[...slots][1].label]);
 * ```
 */
export class Group<T extends Target = Target> implements Iterable<T> {
  /** The targets, in order. */
  readonly targets: readonly T[];

  /**
   * Makes a group.
   *
   * @param targets The targets, in order.
   */
  constructor(targets: readonly T[]) {
    this.targets = Object.freeze([...targets]);
  }

  /**
   * Makes a group of the same kind with other targets (subclasses keep their settings).
   *
   * @param targets The targets.
   * @returns The new group.
   */
  protected withTargets(targets: readonly T[]): this {
    return new (this.constructor as new (t: readonly T[]) => this)(targets);
  }

  /** Number of targets. */
  get length(): number {
    return this.targets.length;
  }

  /** Iterates over the targets. */
  [Symbol.iterator](): Iterator<T> {
    return this.targets[Symbol.iterator]();
  }

  /**
   * The target at an index.
   *
   * @param i The index (negative counts from the end).
   * @returns The target.
   * @throws {RangeError} If there is none.
   */
  at(i: number): T {
    const t = this.targets.at(i);
    if (!t) throw new RangeError(`No target at index ${i}: the group has ${this.length}`);
    return t;
  }

  /**
   * The targets that satisfy a predicate, as a group.
   *
   * @param predicate Called with each target and its index.
   * @returns A new group.
   */
  where(predicate: (target: T, index: number) => boolean): this {
    return this.withTargets(this.targets.filter(predicate));
  }

  /**
   * A slice of the group, like `Array.prototype.slice`.
   *
   * @param start First index.
   * @param end Index after the last.
   * @returns A new group.
   */
  slice(start?: number, end?: number): this {
    return this.withTargets(this.targets.slice(start, end));
  }

  /**
   * A command on every target: a shell line, an argv array, or a function of the target and
   * its index that returns one (use the `sh` template to quote values).
   *
   * @param command The command.
   * @returns A lazy group command; await it for a {@linkcode GroupResult}.
   */
  run(command: GroupCommandInput<T>): GroupCommand<T> {
    return new GroupCommand(this.targets, command);
  }
}

class LocalSlot implements Target {
  readonly label: string;
  constructor(label: string) {
    this.label = label;
  }
  launch(spec: LaunchSpec): Launch | Promise<Launch> {
    return LOCAL.launch(spec);
  }
}

/**
 * A group of `n` local targets (labelled `local` when n is 1, else `local[0]`, `local[1]`,
 * ...): run n processes on this machine with the group API.
 *
 * @param n How many targets (default 1).
 * @returns The group.
 * @throws {RangeError} If n is not a positive integer.
 *
 * @example
 * ```ts
 * import { local } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const r = await local(3).run((_, i) => `echo worker ${i}`).quiet();
 * deepStrictEqual(r.text(), ["worker 0", "worker 1", "worker 2"]);
 * ```
 */
export function local(n = 1): Group {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`'n' must be a positive integer: received ${n}`);
  }
  return new Group(
    Array.from({ length: n }, (_, i) => n === 1 ? LOCAL : new LocalSlot(`local[${i}]`)),
  );
}
