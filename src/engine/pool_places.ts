/**
 * `experiment(..., { pool: { dir, class } })`: the combinations of a run go onto the slots of
 * the pool's ready machines of that class, one worker per slot; `ctx.hosts` is the slot's
 * machine, `ctx.host` and `ctx.slot` say where a combination runs.
 *
 * The run takes the slots for itself, not through the pool's queue: while it runs it holds the
 * pool's dispatcher lock, so that no dispatcher serves the pool meanwhile (a slot never holds
 * two jobs), and it refuses to start while a dispatcher serves it.
 *
 * @module
 */

import { Host } from "../ssh/mod.ts";
import { DispatcherBusyError, DispatchLock, openPool, slotValues } from "../pool/mod.ts";

/** Which pool an experiment runs on. */
export interface ExperimentPool {
  /** The pool directory. */
  readonly dir: string;
  /** The class of machines whose slots run the combinations. */
  readonly class: string;
}

/** One slot of a pool machine. */
export interface PoolPlace {
  /** The machine's host. */
  readonly host: Host;
  /** The machine name. */
  readonly machine: string;
  /** The slot value. */
  readonly slot: string;
}

/**
 * The slots of the ready machines of a pool's class, machine by machine.
 *
 * @param p The pool and class.
 * @param experiment The experiment's name, for errors.
 * @returns The slots.
 * @throws {RangeError} If the class is unknown or has no ready machine.
 */
export async function poolPlaces(p: ExperimentPool, experiment: string): Promise<PoolPlace[]> {
  await using pool = await openPool(p.dir);
  const cls = (await pool.classes()).find((c) => c.name === p.class);
  if (!cls) {
    throw new RangeError(
      `Experiment '${experiment}': pool "${p.dir}" has no class '${p.class}': define it with 'dexp pool class add ${p.class}'`,
    );
  }
  const machines = await pool.machines({ class: p.class, state: "ready" });
  if (machines.length === 0) {
    throw new RangeError(
      `Experiment '${experiment}': class '${p.class}' of pool "${p.dir}" has no ready machine: add one with 'dexp machine add ${p.class} HOST' and set it up ('dexp machine setup')`,
    );
  }
  const slots = slotValues(cls.slots);
  return machines.flatMap((m) => {
    const host = new Host(m.host);
    return slots.map((slot) => ({ host, machine: m.name, slot }));
  });
}

/**
 * Takes the pool's slots for a run: its dispatcher lock, so that no dispatcher serves the
 * pool while the run uses its slots.
 *
 * @param p The pool and class.
 * @param experiment The experiment's name, for errors.
 * @returns The held lock: release it when the run ends (`await using`).
 * @throws {RangeError} If a dispatcher (or another run) serves the pool.
 */
export async function holdPoolSlots(p: ExperimentPool, experiment: string): Promise<DispatchLock> {
  try {
    return await DispatchLock.acquire(p.dir, "dexp run");
  } catch (e) {
    if (!(e instanceof DispatcherBusyError)) throw e;
    throw new RangeError(
      `Experiment '${experiment}' runs on the slots of pool "${p.dir}", which ${
        e.holder
          ? `pid ${e.holder.pid} on host "${e.holder.host}" (${
            e.holder.role ?? "a dispatcher"
          }) serves`
          : "a dispatcher serves"
      }: stop it first, or run the experiment's commands as pool jobs ('dexp job add')`,
    );
  }
}
