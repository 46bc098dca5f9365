/**
 * Slots: the places on a machine where one job runs at a time. A machine has a number of slots
 * (`0`, `1`, ...) or a list of named ones (GPU ids, NUMA sockets); a slot's value reaches the
 * job as `{slot}`, through per-slot environment variables (`CUDA_VISIBLE_DEVICES={slot}`) and a
 * per-slot command prefix (`numactl -N {slot}`). {@linkcode SlotBoard} hands slots out and
 * never gives one slot to two jobs.
 *
 * @module
 */

import { fillPlaceholders, quote } from "../process/mod.ts";

/**
 * The slot values of a machine.
 *
 * @param slots A count (slots `0` ... `n-1`) or a list of names.
 * @returns The slot values, in order.
 * @throws {RangeError} If the count is not a positive integer, the list is empty or has
 *   duplicates or values that are not plain words.
 *
 * @example
 * ```ts
 * import { slotValues } from "./slots.ts";
 * console.log(slotValues(2)); // ["0", "1"]
 * console.log(slotValues(["gpu0", "gpu1"])); // ["gpu0", "gpu1"]
 * ```
 */
export function slotValues(slots: number | readonly string[]): string[] {
  if (typeof slots === "number") {
    if (!Number.isInteger(slots) || slots <= 0) {
      throw new RangeError(
        `'slots' must be a positive integer or a list of names: received ${slots}`,
      );
    }
    return Array.from({ length: slots }, (_, i) => String(i));
  }
  if (slots.length === 0) {
    throw new RangeError("'slots' must name at least one slot: received an empty list");
  }
  const seen = new Set<string>();
  for (const s of slots) {
    if (typeof s !== "string" || !/^[A-Za-z0-9_.,:=+-]+$/.test(s)) {
      throw new RangeError(
        `A slot must be a word of letters, digits and _.,:=+-: received ${JSON.stringify(s)}`,
      );
    }
    if (seen.has(s)) throw new RangeError(`Slot "${s}" is listed twice`);
    seen.add(s);
  }
  return [...slots];
}

/** How a job's command is placed on a slot. */
export interface SlotPlacement {
  /** The job's command, with placeholders. */
  readonly command: string;
  /** Values for the placeholders: `host`, `class`, `job`, matrix and pool variables. */
  readonly vars: Readonly<Record<string, string>>;
  /** The slot value (`{slot}`). */
  readonly slot: string;
  /** Per-slot command prefix, e.g. `numactl -N {slot}`. */
  readonly prefix?: string | null;
  /** Per-slot environment variables, e.g. `{ CUDA_VISIBLE_DEVICES: "{slot}" }`. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A command ready to start on a slot. */
export interface PlacedCommand {
  /** The command line, prefix first. */
  readonly command: string;
  /** The environment variables for it (`DEXP_SLOT` always). */
  readonly env: Record<string, string>;
}

/**
 * Fills a job's command for a slot: placeholders (`{slot}` and every variable), the slot's
 * prefix (which runs the whole command, under `sh -c`), and the slot's environment variables
 * (with `DEXP_SLOT`).
 *
 * @param p The command, variables, slot, prefix and environment.
 * @returns The command and environment.
 * @throws {RangeError} If the command, prefix or an environment value names an unknown
 *   placeholder.
 * @throws {TypeError} If an environment variable name is not valid.
 *
 * @example
 * ```ts
 * import { placeOnSlot } from "./slots.ts";
 * const p = placeOnSlot({
 *   command: "./bench --n {n}",
 *   vars: { n: "4", host: "n1" },
 *   slot: "1",
 *   prefix: "numactl -N {slot}",
 *   env: { CUDA_VISIBLE_DEVICES: "{slot}" },
 * });
 * console.log(p.command); // numactl -N 1 sh -c './bench --n 4'
 * ```
 */
export function placeOnSlot(p: SlotPlacement): PlacedCommand {
  const vars = { ...p.vars, slot: p.slot };
  const command = fillPlaceholders(p.command, vars);
  const prefix = p.prefix ? fillPlaceholders(p.prefix, vars) : "";
  const env: Record<string, string> = { DEXP_SLOT: p.slot };
  for (const [k, v] of Object.entries(p.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new TypeError(
        `Slot environment variable name ${
          JSON.stringify(k)
        } is not valid: use letters, digits and _`,
      );
    }
    env[k] = fillPlaceholders(v, vars);
  }
  // The prefix wraps the whole command (`numactl -N 1 sh -c '...'`), not only its first word:
  // a job's command is often a list (`cd x && ./run; cp ...`).
  return { command: prefix ? `${prefix} sh -c ${quote(command)}` : command, env };
}

/**
 * Who uses which slot of which machine. One slot holds one job at most: {@linkcode take} gives
 * only free slots, {@linkcode occupy} refuses a busy one.
 */
export class SlotBoard {
  #slots = new Map<string, string[]>();
  #used = new Map<string, Map<string, string>>();

  /**
   * Declares a machine's slots (again, when they changed). Slots in use stay in use.
   *
   * @param machine The machine name.
   * @param slots Its slot values.
   */
  setMachine(machine: string, slots: readonly string[]): void {
    this.#slots.set(machine, [...slots]);
    if (!this.#used.has(machine)) this.#used.set(machine, new Map());
  }

  /**
   * Forgets a machine (its jobs must have ended).
   *
   * @param machine The machine name.
   */
  removeMachine(machine: string): void {
    this.#slots.delete(machine);
    if ((this.#used.get(machine)?.size ?? 0) === 0) this.#used.delete(machine);
  }

  /**
   * The first free slot of a machine, in slot order, marked as used by `owner`.
   *
   * @param machine The machine name.
   * @param owner Who takes it (a job id).
   * @returns The slot value, or `null` when every slot is busy.
   */
  take(machine: string, owner: string): string | null {
    const slots = this.#slots.get(machine) ?? [];
    const used = this.#used.get(machine) ?? new Map<string, string>();
    const free = slots.find((s) => !used.has(s));
    if (free === undefined) return null;
    used.set(free, owner);
    this.#used.set(machine, used);
    return free;
  }

  /**
   * Marks a known slot as used (a job found running after a restart).
   *
   * @param machine The machine name.
   * @param slot The slot value.
   * @param owner Who uses it.
   * @throws {Error} If another owner holds it.
   */
  occupy(machine: string, slot: string, owner: string): void {
    const used = this.#used.get(machine) ?? new Map<string, string>();
    const other = used.get(slot);
    if (other !== undefined && other !== owner) {
      throw new Error(
        `Slot "${slot}" of machine "${machine}" is held by "${other}", not "${owner}"`,
      );
    }
    used.set(slot, owner);
    this.#used.set(machine, used);
  }

  /**
   * Frees a slot.
   *
   * @param machine The machine name.
   * @param slot The slot value.
   */
  free(machine: string, slot: string): void {
    this.#used.get(machine)?.delete(slot);
  }

  /**
   * The number of busy slots of a machine.
   *
   * @param machine The machine name.
   * @returns How many jobs hold one of its slots.
   */
  busy(machine: string): number {
    return this.#used.get(machine)?.size ?? 0;
  }

  /**
   * The number of free slots of a machine.
   *
   * @param machine The machine name.
   * @returns Its slots minus the busy ones (never negative).
   */
  freeCount(machine: string): number {
    const slots = this.#slots.get(machine) ?? [];
    const used = this.#used.get(machine);
    return slots.filter((s) => !used?.has(s)).length;
  }
}
