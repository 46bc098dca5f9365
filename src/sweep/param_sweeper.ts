/**
 * `ParamSweeper`: a crash-safe checkpoint of a parameter sweep that many processes on many
 * hosts share through one directory.
 *
 * @module
 */

import { type Combination, combinationId } from "./combination.ts";
import { hash32 } from "./_hash.ts";
import { IdIndex } from "./_id_index.ts";
import { FAILED, type ResetWhat, SKIPPED, SweepState } from "./_state.ts";
import { type Emit, JournalStore } from "./journal.ts";
import {
  currentOwner,
  isAlive,
  type Liveness,
  liveness,
  type Owner,
  ownerKey,
  parseOwnerKey,
} from "./owner.ts";

/** The state of a combination. */
export type CombinationState = "todo" | "inProgress" | "done" | "skipped" | "failed";

const STATE_NAMES: CombinationState[] = ["todo", "inProgress", "done", "skipped", "failed"];

/** Counts and ratios of a sweep's combinations (like execo's `ParamSweeper.stats`). */
export interface SweepStats {
  /** Combinations in the current set. */
  total: number;
  /** Not started (or put back). */
  todo: number;
  /** Claimed by a live (or not yet known dead) owner. */
  inProgress: number;
  /** Completed. */
  done: number;
  /** Given up, with a reason. */
  skipped: number;
  /** Failed, with a reason (see {@linkcode ParamSweeper.fail}). */
  failed: number;
  /** `todo + inProgress`. */
  remaining: number;
  /** `done / total` (0 when total is 0); likewise the other ratios. */
  doneRatio: number;
  /** `skipped / total`. */
  skippedRatio: number;
  /** `failed / total`. */
  failedRatio: number;
  /** `inProgress / total`. */
  inProgressRatio: number;
  /** `todo / total`. */
  todoRatio: number;
  /** `remaining / total`. */
  remainingRatio: number;
}

/** A claim on a combination. */
export interface ClaimInfo<C> {
  /** The claimed combination. */
  combination: C;
  /** Who holds it. */
  owner: Owner;
  /** When it was claimed, in ms since the epoch (the claimer's clock). */
  since: number;
  /** The end of the owner's lease, in ms since the epoch (0 if none was recorded). */
  leaseExpiresAt: number;
  /** True if this sweeper holds it. */
  mine: boolean;
  /** How the owner was judged just now. */
  liveness: Liveness;
}

/** Options of {@linkcode ParamSweeper.open}. */
export interface ParamSweeperOptions {
  /**
   * How long a claim stays valid without renewal, in ms (default 60,000). Claims are renewed
   * every quarter of it while this process lives. Only owners on other hosts are judged by
   * their lease; on the same host the process table decides.
   */
  leaseMs?: number;
  /** How often, at most, `next()` looks for dead owners, in ms (default 1,000). */
  reapIntervalMs?: number;
  /**
   * Compact the journal into a snapshot when it exceeds this many bytes and the size of the
   * snapshot (default 1 MiB).
   */
  compactBytes?: number;
  /** The host name recorded in claims (default `Deno.hostname()`). */
  host?: string;
  /**
   * The batch scheduler's id of the job this process runs as (e.g. Slurm's array task
   * `12_3`), recorded in its claims. Claims of another process with the same job are from
   * before the job was requeued: they go back to todo at once, wherever that process ran,
   * without waiting for its lease. Give it only when no other process of the job opens the
   * sweep.
   */
  job?: string;
  /**
   * Wait for the directory lock in the main thread (`lockSync`) instead of a helper thread
   * (default false). About 2.5 times the throughput when several processes of one host race
   * for the lock, but timers and I/O of this process stand still while it waits, for as long
   * as another process holds the lock (a compaction, a slow NFS server).
   */
  blockingLock?: boolean;
  /** The clock, in ms since the epoch (default `Date.now`); for tests. */
  now?: () => number;
  /**
   * The timer that renews the lease every quarter of `leaseMs` (default the global
   * `setInterval`/`clearInterval`, unref'd); for tests, which call the tick themselves.
   */
  timers?: SweeperTimers;
}

/** A repeating timer, injectable so that tests drive the lease renewal themselves. */
export interface SweeperTimers {
  /**
   * Calls `tick` every `ms` until cleared.
   *
   * @param tick The renewal.
   * @param ms The period.
   * @returns A handle for `clear`.
   */
  start(tick: () => void, ms: number): unknown;
  /**
   * Stops the timer.
   *
   * @param handle What `start` returned.
   */
  clear(handle: unknown): void;
}

const REAL_TIMERS: SweeperTimers = {
  start(tick, ms) {
    const t = setInterval(tick, ms);
    Deno.unrefTimer(t);
    return t;
  },
  clear(handle) {
    clearInterval(handle as ReturnType<typeof setInterval>);
  },
};

/** Options of {@linkcode ParamSweeper.claims}. */
export interface ClaimsOptions {
  /**
   * What to do with the current combination when the loop exits early (`break`, `return` or
   * an exception; JavaScript does not tell an iterator which): put it back to todo
   * (`"cancel"`, the default) or mark it skipped (`"skip"`).
   */
  onExit?: "cancel" | "skip";
  /** The reason recorded with `onExit: "skip"` (default "loop exited early"). */
  reason?: string;
}

/** Options of {@linkcode ParamSweeper.run}. */
export interface RunOptions {
  /**
   * When the function throws: put the combination back to todo and rethrow (`"cancel"`, the
   * default), or mark it skipped with the error message as reason and go on (`"skip"`).
   */
  onError?: "cancel" | "skip";
}

/** What {@linkcode ParamSweeper.run} did. */
export interface RunSummary {
  /** Combinations completed and recorded done by this call. */
  done: number;
  /** Combinations skipped because the function threw (with `onError: "skip"`). */
  skipped: number;
  /**
   * Combinations completed whose completion was not recorded, because their claim had been
   * taken over (this process was presumed dead) or they had been finished meanwhile.
   */
  stale: number;
}

type FinishOp = "D" | "S" | "F" | "X";
/** Changes to a sweeper's own claims, applied once a write reached the disk: [index, token or 0]. */
type Staged = [number, number][];

function checkPositive(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isFinite(v) || v <= 0)) {
    throw new RangeError(`'${name}' must be a positive number: received ${v}`);
  }
}

/** Statistics of a state, as {@linkcode SweepStats}. */
export function statsOf(counts: readonly number[]): SweepStats {
  const [todo, inProgress, done, skipped] = counts;
  const failed = counts[FAILED] ?? 0;
  const total = todo + inProgress + done + skipped + failed;
  const r = (x: number) => (total === 0 ? 0 : x / total);
  return {
    total,
    todo,
    inProgress,
    done,
    skipped,
    failed,
    remaining: todo + inProgress,
    doneRatio: r(done),
    skippedRatio: r(skipped),
    failedRatio: r(failed),
    inProgressRatio: r(inProgress),
    todoRatio: r(todo),
    remainingRatio: r(todo + inProgress),
  };
}

/** The claims on combinations of the current set, judged from `me` at `now`. */
export function claimsOf<C>(
  state: SweepState,
  me: Owner,
  now: number,
  includeOutsideSet = false,
): ClaimInfo<C>[] {
  const myKey = ownerKey(me);
  const out: ClaimInfo<C>[] = [];
  const cache = new Map<string, Liveness>();
  for (const [i, c] of state.claims) {
    if (i >= state.known && !includeOutsideSet) continue;
    const owner = parseOwnerKey(c.owner);
    const lease = state.owners.get(c.owner)?.lease ?? 0;
    let l = cache.get(c.owner);
    if (l === undefined) {
      l = liveness(owner, me, lease, now);
      cache.set(c.owner, l);
    }
    out.push({
      combination: JSON.parse(state.index.ids[i]) as C,
      owner,
      since: c.at,
      leaseExpiresAt: lease,
      mine: c.owner === myKey,
      liveness: l,
    });
  }
  return out;
}

/**
 * A checkpointed sweep shared by any number of processes on any number of hosts through one
 * directory (local or NFS). Each combination is todo, inProgress (claimed), done, skipped or
 * failed (the last two with a reason).
 *
 * - `next()` claims the first todo combination in input order; the claim names its owner
 *   (host, pid, process start time) and carries a lease renewed while the owner lives.
 * - A claim whose owner is dead goes back to todo by itself: on the same host when the pid is
 *   gone or reused, on other hosts when the lease expired. No manual cleanup after a crash.
 * - Exactly once: each claim has a token; a completion (`done`, `skip`, `fail`) is recorded only if
 *   nobody claimed the combination since the claim it completes, so a worker presumed dead
 *   cannot complete a combination another worker holds. The journal order under the lock
 *   decides.
 * - Every change is one line appended to the journal under an exclusive file lock and
 *   fsynced before the lock is released; the journal is compacted into a snapshot renamed
 *   atomically. The cost of an operation does not grow with the size of the sweep.
 *
 * @example
 * ```ts
 * import { ParamSweeper, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await using sweeper = await ParamSweeper.open(dir, sweep({ n: [1, 2, 4], impl: ["a", "b"] }));
 * for await (const c of sweeper) {
 *   console.log("running", c.n, c.impl); // marked done when the body completes
 * }
 * deepStrictEqual((await sweeper.stats()).done, 6);
 * ```
 */
export class ParamSweeper<C extends object = Combination>
  implements AsyncIterable<C>, AsyncDisposable {
  /** The sweep directory. */
  readonly dir: string;
  /** This sweeper's identity in claims. */
  readonly owner: Owner;
  readonly #store: JournalStore;
  readonly #state: SweepState;
  readonly #key: string;
  readonly #leaseMs: number;
  readonly #reapMs: number;
  readonly #now: () => number;
  /** Tokens of the claims this sweeper made and has not finished. */
  readonly #mine = new Map<number, number>();
  #lastReap = -Infinity;
  #timer: unknown;
  readonly #timers: SweeperTimers;
  #renewing = false;
  #closed = false;

  private constructor(
    store: JournalStore,
    state: SweepState,
    options: ParamSweeperOptions,
  ) {
    this.dir = store.dir;
    this.#store = store;
    this.#state = state;
    this.owner = currentOwner(options.host, options.job);
    this.#key = ownerKey(this.owner);
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#reapMs = options.reapIntervalMs ?? 1_000;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? REAL_TIMERS;
  }

  /**
   * Opens (or creates) the sweep in `dir` for the given combinations.
   *
   * The set may differ from the one of an earlier run: new combinations are todo, recorded
   * ones keep their state, and records of combinations no longer in the set stay in the
   * directory (they count again if the combination comes back) but not in the statistics.
   * Duplicates are kept once.
   *
   * @param dir The sweep directory (created if missing).
   * @param combinations The combinations, for example a {@linkcode sweep}; iterated once.
   * @param options See {@linkcode ParamSweeperOptions}.
   * @returns The open sweeper; close it (or use `await using`) to release its claims.
   * @throws {TypeError} If a combination is not a plain object of JSON values.
   * @throws {RangeError} If an option is out of range.
   * @throws {SweepFormatError} If the directory was written by a newer dexp or is damaged.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * const dir = await Deno.makeTempDir();
   * const s = await ParamSweeper.open(dir, [{ seed: 1 }, { seed: 2 }]);
   * const c = await s.next();
   * deepStrictEqual(c, { seed: 1 });
   * await s.done(c!);
   * await s.close();
   * ```
   */
  static async open<C extends object = Combination>(
    dir: string,
    combinations: Iterable<C>,
    options: ParamSweeperOptions = {},
  ): Promise<ParamSweeper<C>> {
    checkPositive("leaseMs", options.leaseMs);
    checkPositive("reapIntervalMs", options.reapIntervalMs);
    checkPositive("compactBytes", options.compactBytes);
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError(`'dir' must be a non-empty path: received ${JSON.stringify(dir)}`);
    }
    const index = new IdIndex();
    let h1 = 0x811c9dc5;
    let h2 = 0;
    for (const c of combinations) {
      if (typeof c !== "object" || c === null || Array.isArray(c)) {
        throw new TypeError(
          `Each combination must be a plain object: received ${
            Array.isArray(c) ? "an array" : c === null ? "null" : typeof c
          }`,
        );
      }
      const id = combinationId(c);
      const h = hash32(id);
      if (index.add(id, h) >= 0) {
        h1 = Math.imul(h1 ^ h, 0x01000193);
        h2 = (h2 + Math.imul(h, 0x9e3779b1)) | 0;
      }
    }
    const setHash = (h1 >>> 0).toString(16).padStart(8, "0") +
      (h2 >>> 0).toString(16).padStart(8, "0");
    const store = await JournalStore.open(dir, {
      create: true,
      compactBytes: options.compactBytes,
      blockingLock: options.blockingLock,
    });
    const state = new SweepState(index);
    const sw = new ParamSweeper<C>(store, state, options);
    try {
      await store.transact(state, true, () => store.writeCombos(index.ids, state.known, setHash));
    } catch (e) {
      await store.close();
      throw e;
    }
    sw.#timer = sw.#timers.start(() => sw.#tick(), Math.max(10, sw.#leaseMs / 4));
    return sw;
  }

  #tick(): void {
    if (this.#closed || this.#renewing) return;
    if ((this.#state.owners.get(this.#key)?.claims.size ?? 0) === 0) return;
    this.#renewing = true;
    this.#store.transact(this.#state, true, (emit) => this.#renew(emit, this.#now(), true))
      .catch(() => {}) // the next operation reports a broken directory
      .finally(() => this.#renewing = false);
  }

  /** Writes a lease record if ours is missing or older than a quarter of its length. */
  #renew(emit: Emit, now: number, onlyIfHolding: boolean): void {
    const o = this.#state.owners.get(this.#key);
    if (onlyIfHolding && (o?.claims.size ?? 0) === 0) return;
    if (o && o.lease - now > this.#leaseMs * 0.75) return;
    emit({ op: "L", at: now, owner: this.#key, until: now + this.#leaseMs });
  }

  /** Returns the claims of dead owners to todo. */
  #reap(emit: Emit, now: number, force: boolean): void {
    if (!force && now - this.#lastReap < this.#reapMs) return;
    this.#lastReap = now;
    const dead: [string, Liveness][] = [];
    for (const [key, o] of this.#state.owners) {
      if (o.claims.size === 0 || key === this.#key) continue;
      const l = liveness(parseOwnerKey(key), this.owner, o.lease, now);
      if (!isAlive(l)) dead.push([key, l]);
    }
    for (const [key, why] of dead) emit({ op: "R", at: now, owner: key, why });
  }

  #indexOf(c: C): number {
    const id = combinationId(c);
    const i = this.#state.index.get(id);
    if (i < 0 || i >= this.#state.known) {
      throw new RangeError(
        `The combination is not part of this sweep: received ${id}: pass one of the combinations given to ParamSweeper.open()`,
      );
    }
    return i;
  }

  #combo(i: number): C {
    return JSON.parse(this.#state.index.ids[i]) as C;
  }

  #finish(emit: Emit, i: number, op: FinishOp, reason: string, now: number, m: Staged): boolean {
    const t = this.#mine.get(i) ?? 0;
    if (op === "X" && t === 0) return false;
    m.push([i, 0]);
    const id = this.#state.index.ids[i];
    if (op === "S" || op === "F") return emit({ op, t, at: now, reason, id });
    return emit({ op, t, at: now, id });
  }

  #claim(emit: Emit, n: number, now: number, m: Staged): number[] {
    const state = this.#state;
    this.#reap(emit, now, false);
    const out: number[] = [];
    let reaped = false;
    while (out.length < n) {
      let i = state.pick();
      if (i < 0 && !reaped) {
        reaped = true;
        this.#reap(emit, now, true);
        i = state.pick();
      }
      if (i < 0) break;
      if (out.length === 0) this.#renew(emit, now, false);
      const t = state.nextToken;
      emit({ op: "C", t, at: now, owner: this.#key, id: state.index.ids[i] });
      m.push([i, t]);
      out.push(i);
    }
    return out;
  }

  /**
   * One locked write. Changes to this sweeper's own claims (`m`) take effect only once the
   * records reached the disk: a write that fails (disk full) leaves the claims as they were,
   * so the same operation can be tried again.
   */
  #write<T>(fn: (emit: Emit, now: number, m: Staged) => T, format2 = false): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new Error(`The sweeper of '${this.dir}' is closed: open it again`));
    }
    const m: Staged = [];
    return this.#store.transact(this.#state, true, (emit) => fn(emit, this.#now(), m), {
      format2,
      commit: () => {
        for (const [i, t] of m) {
          if (t === 0) this.#mine.delete(i);
          else this.#mine.set(i, t);
        }
      },
    });
  }

  /**
   * Claims the first todo combination (in input order). Before giving up, returns the claims
   * of dead owners to todo.
   *
   * @returns The combination, or null if none is todo (some may still be in progress).
   * @throws {SweepFormatError} If the directory is damaged or from a newer dexp.
   * @throws {SweepWriteError} If the claim could not be written (disk full): nothing was
   * claimed.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * deepStrictEqual(await s.next(), { a: 1 });
   * deepStrictEqual(await s.next(), null);
   * ```
   */
  async next(): Promise<C | null> {
    const [c] = await this.nextMany(1);
    return c ?? null;
  }

  /**
   * Claims up to `n` todo combinations in one locked write.
   *
   * @param n How many, a positive integer.
   * @returns The claimed combinations, fewer than `n` (maybe none) if fewer are todo.
   * @throws {RangeError} If `n` is not a positive integer.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }, { a: 3 }]);
   * deepStrictEqual((await s.nextMany(2)).length, 2);
   * ```
   */
  async nextMany(n: number): Promise<C[]> {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`'n' must be a positive integer: received ${n}`);
    }
    const idx = await this.#write((emit, now, m) => this.#claim(emit, n, now, m));
    return idx.map((i) => this.#combo(i));
  }

  /**
   * Marks a combination done. If this sweeper claimed it, the completion is recorded unless
   * another process claimed it since (this one was presumed dead); if not, it is recorded
   * only if the combination is todo.
   *
   * @param combination The combination.
   * @returns True if recorded; false if the rule rejected it (already finished, or claimed by
   * someone else).
   * @throws {RangeError} If the combination is not part of the sweep.
   * @throws {SweepWriteError} If the record could not be written (disk full): nothing was
   * recorded and this sweeper still holds its claim, so the same call can be made again.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * const c = await s.next();
   * deepStrictEqual(await s.done(c!), true);
   * deepStrictEqual(await s.done(c!), false); // already done
   * ```
   */
  async done(combination: C): Promise<boolean> {
    return (await this.doneMany([combination])) === 1;
  }

  /**
   * Marks several combinations done in one locked write.
   *
   * @param combinations The combinations.
   * @returns How many were recorded (see {@linkcode ParamSweeper.done}).
   * @throws {RangeError} If a combination is not part of the sweep.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * deepStrictEqual(await s.doneMany(await s.nextMany(2)), 2);
   * ```
   */
  doneMany(combinations: Iterable<C>): Promise<number> {
    return this.#finishMany(combinations, "D", "");
  }

  /**
   * Marks a combination skipped: it will not be claimed again (until a reset).
   *
   * @param combination The combination.
   * @param reason Why, shown by `dexp sweep status` (default "").
   * @returns True if recorded (same rule as {@linkcode ParamSweeper.done}).
   * @throws {RangeError} If the combination is not part of the sweep.
   * @throws {SweepWriteError} If the record could not be written (disk full): nothing was
   * recorded and this sweeper still holds its claim, so the same call can be made again.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * deepStrictEqual(await s.skip({ a: 1 }, "does not fit in memory"), true);
   * ```
   */
  async skip(combination: C, reason = ""): Promise<boolean> {
    return (await this.skipMany([combination], reason)) === 1;
  }

  /**
   * Marks several combinations skipped in one locked write.
   *
   * @param combinations The combinations.
   * @param reason Why (default "").
   * @returns How many were recorded.
   * @throws {RangeError} If a combination is not part of the sweep.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * deepStrictEqual(await s.skipMany([{ a: 1 }, { a: 2 }], "broken node"), 2);
   * ```
   */
  skipMany(combinations: Iterable<C>, reason = ""): Promise<number> {
    return this.#finishMany(combinations, "S", String(reason));
  }

  /**
   * Marks a combination failed: like {@linkcode ParamSweeper.skip}, it will not be claimed
   * again (until `reset("failed")` or `dexp sweep reset DIR --failed`), but it is counted and
   * listed as failed, not skipped. `dexp sweep status` shows the reason.
   *
   * @param combination The combination.
   * @param reason Why it failed, shown by `dexp sweep status` (default "").
   * @returns True if recorded (same rule as {@linkcode ParamSweeper.done}).
   * @throws {RangeError} If the combination is not part of the sweep.
   * @throws {SweepWriteError} If the record could not be written (disk full): nothing was
   * recorded and this sweeper still holds its claim, so the same call can be made again.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * const c = await s.next();
   * deepStrictEqual(await s.fail(c!, "exit code 3 on n2"), true);
   * deepStrictEqual(await s.stateOf(c!), { state: "failed", reason: "exit code 3 on n2" });
   * ```
   */
  async fail(combination: C, reason = ""): Promise<boolean> {
    return (await this.failMany([combination], reason)) === 1;
  }

  /**
   * Marks several combinations failed in one locked write.
   *
   * @param combinations The combinations.
   * @param reason Why (default "").
   * @returns How many were recorded.
   * @throws {RangeError} If a combination is not part of the sweep.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * deepStrictEqual(await s.failMany(await s.nextMany(2), "node lost"), 2);
   * ```
   */
  failMany(combinations: Iterable<C>, reason = ""): Promise<number> {
    return this.#finishMany(combinations, "F", String(reason));
  }

  /**
   * Puts a combination this sweeper claimed back to todo.
   *
   * @param combination The combination.
   * @returns True if it was in progress under this sweeper's claim and is now todo.
   * @throws {RangeError} If the combination is not part of the sweep.
   * @throws {SweepWriteError} If the record could not be written (disk full): nothing was
   * recorded and this sweeper still holds its claim, so the same call can be made again.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * const c = await s.next();
   * deepStrictEqual(await s.cancel(c!), true);
   * deepStrictEqual(await s.next(), { a: 1 }); // again
   * ```
   */
  async cancel(combination: C): Promise<boolean> {
    return (await this.cancelMany([combination])) === 1;
  }

  /**
   * Puts several claimed combinations back to todo in one locked write.
   *
   * @param combinations The combinations.
   * @returns How many went back to todo.
   * @throws {RangeError} If a combination is not part of the sweep.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * deepStrictEqual(await s.cancelMany(await s.nextMany(2)), 2);
   * ```
   */
  cancelMany(combinations: Iterable<C>): Promise<number> {
    return this.#finishMany(combinations, "X", "");
  }

  async #finishMany(combinations: Iterable<C>, op: FinishOp, reason: string): Promise<number> {
    const idx = [...combinations].map((c) => this.#indexOf(c));
    if (idx.length === 0) return 0;
    return await this.#write((emit, now, m) => {
      this.#reap(emit, now, false);
      let n = 0;
      for (const i of idx) if (this.#finish(emit, i, op, reason, now, m)) n++;
      return n;
    }, op === "F");
  }

  /**
   * Records the completion of `prev` (if any) and claims the next combination, in one locked
   * write.
   */
  async #step(prev: number, op: "D" | "S", reason: string): Promise<{ ok: boolean; next: number }> {
    return await this.#write((emit, now, m) => {
      const ok = prev < 0 ? true : this.#finish(emit, prev, op, reason, now, m);
      const [next] = this.#claim(emit, 1, now, m);
      return { ok, next: next ?? -1 };
    });
  }

  /**
   * Claims combinations one at a time; each is marked done when the loop body completes and
   * the loop asks for the next one (both in one locked write). If the loop exits early, the
   * current combination is cancelled (or skipped, see {@linkcode ClaimsOptions}). If the body
   * calls `done`, `skip` or `cancel` itself, that decision stands. If the completion cannot be
   * recorded (a `SweepWriteError`: disk full), the loop throws and the combination stays
   * claimed by this sweeper: `done(c)` records it once the cause is fixed, `close()` puts it
   * back to todo.
   *
   * @param options See {@linkcode ClaimsOptions}.
   * @returns An async iterator of claimed combinations.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * for await (const c of s.claims({ onExit: "skip", reason: "crashed" })) {
   *   if (c.a === 2) break; // { a: 2 } is recorded skipped
   * }
   * const stats = await s.stats();
   * deepStrictEqual([stats.done, stats.skipped], [1, 1]);
   * ```
   */
  async *claims(options: ClaimsOptions = {}): AsyncGenerator<C, void, undefined> {
    const onExit = options.onExit ?? "cancel";
    if (onExit !== "cancel" && onExit !== "skip") {
      throw new RangeError(
        `'onExit' must be "cancel" or "skip": received ${JSON.stringify(onExit)}`,
      );
    }
    const reason = options.reason ?? "loop exited early";
    let current = -1;
    try {
      for (;;) {
        let next: number;
        try {
          next = (await this.#step(current, "D", "")).next;
        } catch (e) {
          // The body of `current` completed but that could not be recorded: keep the claim,
          // so that done() can record it once the cause is fixed (close() puts it back).
          current = -1;
          throw e;
        }
        current = next;
        if (next < 0) return;
        yield this.#combo(next);
      }
    } finally {
      if (current >= 0 && !this.#closed) {
        const i = current;
        await this.#write((emit, now, m) =>
          this.#finish(emit, i, onExit === "skip" ? "S" : "X", reason, now, m)
        );
      }
    }
  }

  /**
   * The same as {@linkcode ParamSweeper.claims} with default options: `for await (const c of
   * sweeper)`.
   *
   * @returns An async iterator of claimed combinations.
   */
  [Symbol.asyncIterator](): AsyncGenerator<C, void, undefined> {
    return this.claims();
  }

  /**
   * Runs `fn` on each combination this process claims until none is todo. Unlike a `for
   * await` loop, it can tell a failure from an early exit: see {@linkcode RunOptions}.
   *
   * @param fn The work for one combination.
   * @param options See {@linkcode RunOptions}.
   * @returns What was done.
   * @throws {unknown} What `fn` threw, with `onError: "cancel"` (the combination is todo again).
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * const r = await s.run((c) => { if (c.a === 2) throw new Error("boom"); }, { onError: "skip" });
   * deepStrictEqual(r, { done: 1, skipped: 1, stale: 0 });
   * ```
   */
  async run(fn: (combination: C) => unknown, options: RunOptions = {}): Promise<RunSummary> {
    const onError = options.onError ?? "cancel";
    if (onError !== "cancel" && onError !== "skip") {
      throw new RangeError(
        `'onError' must be "cancel" or "skip": received ${JSON.stringify(onError)}`,
      );
    }
    const summary: RunSummary = { done: 0, skipped: 0, stale: 0 };
    let prev = -1;
    let op: "D" | "S" = "D";
    let reason = "";
    for (;;) {
      const { ok, next } = await this.#step(prev, op, reason);
      if (prev >= 0) {
        if (!ok) summary.stale++;
        else if (op === "D") summary.done++;
        else summary.skipped++;
      }
      if (next < 0) return summary;
      prev = next;
      try {
        await fn(this.#combo(next));
        op = "D";
      } catch (e) {
        if (onError === "cancel") {
          const i = next;
          await this.#write((emit, now, m) => this.#finish(emit, i, "X", "", now, m));
          throw e;
        }
        op = "S";
        reason = e instanceof Error ? e.message : String(e);
      }
    }
  }

  async #read<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw new Error(`The sweeper of '${this.dir}' is closed: open it again`);
    return await this.#store.transact(this.#state, false, fn);
  }

  /**
   * Reads what other processes recorded since this one last looked.
   *
   * @returns Resolves when up to date.
   */
  async refresh(): Promise<void> {
    await this.#read(() => {});
  }

  /**
   * Counts and ratios, up to date with the directory.
   *
   * @returns The statistics of the current set of combinations.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * await s.done({ a: 1 });
   * deepStrictEqual((await s.stats()).doneRatio, 0.5);
   * ```
   */
  async stats(): Promise<SweepStats> {
    return await this.#read(() => statsOf(this.#state.counts));
  }

  /**
   * The combinations still todo, in input order.
   *
   * @returns The todo combinations (not those in progress).
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * await s.next();
   * deepStrictEqual(await s.remaining(), [{ a: 2 }]);
   * ```
   */
  async remaining(): Promise<C[]> {
    return await this.list("todo");
  }

  /**
   * The combinations in a given state, in input order.
   *
   * @param state Which state.
   * @returns The combinations.
   * @throws {RangeError} If `state` is not a state name.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * await s.done({ a: 2 });
   * deepStrictEqual(await s.list("done"), [{ a: 2 }]);
   * ```
   */
  async list(state: CombinationState): Promise<C[]> {
    const s = STATE_NAMES.indexOf(state);
    if (s < 0) {
      throw new RangeError(
        `'state' must be one of ${STATE_NAMES.map((x) => `"${x}"`).join(", ")}: received ${
          JSON.stringify(state)
        }`,
      );
    }
    return await this.#read(() => {
      const out: C[] = [];
      const { st, known } = this.#state;
      for (let i = 0; i < known; i++) if (st[i] === s) out.push(this.#combo(i));
      return out;
    });
  }

  /**
   * The claims in progress, with their owners, ages and leases.
   *
   * @returns One entry per combination in progress.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * await s.next();
   * const [claim] = await s.inProgress();
   * deepStrictEqual([claim.owner.pid === Deno.pid, claim.mine], [true, true]);
   * ```
   */
  async inProgress(): Promise<ClaimInfo<C>[]> {
    return await this.#read(() => claimsOf<C>(this.#state, this.owner, this.#now()));
  }

  /**
   * The combinations skipped or failed, in input order, each with its reason.
   *
   * @param state `"skipped"` or `"failed"`.
   * @returns The combinations and their reasons.
   * @throws {RangeError} If `state` is not one of the two.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }, { a: 2 }]);
   * await s.fail({ a: 2 }, "exit code 1");
   * deepStrictEqual(await s.reasons("failed"), [{ combination: { a: 2 }, reason: "exit code 1" }]);
   * ```
   */
  async reasons(state: "skipped" | "failed"): Promise<{ combination: C; reason: string }[]> {
    if (state !== "skipped" && state !== "failed") {
      throw new RangeError(
        `'state' must be "skipped" or "failed": received ${JSON.stringify(state)}`,
      );
    }
    return await this.#read(() =>
      reasonsOf<C>(this.#state, state === "skipped" ? SKIPPED : FAILED, this.#state.known)
    );
  }

  /**
   * The state of one combination, and the reason if skipped or failed.
   *
   * @param combination The combination.
   * @returns Its state.
   * @throws {RangeError} If the combination is not part of the sweep.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * deepStrictEqual(await s.stateOf({ a: 1 }), { state: "todo" });
   * ```
   */
  async stateOf(combination: C): Promise<{ state: CombinationState; reason?: string }> {
    const i = this.#indexOf(combination);
    return await this.#read(() => {
      const s = this.#state.st[i];
      return s === SKIPPED || s === FAILED
        ? { state: STATE_NAMES[s], reason: this.#state.reasons.get(i) ?? "" }
        : { state: STATE_NAMES[s] };
    });
  }

  /**
   * Puts combinations back to todo, for every process sharing the directory (like
   * `dexp sweep reset`). Completions of claims reset while their workers still run are
   * still accepted if nobody claimed the combination since.
   *
   * @param what `"inProgress"`, `"skipped"`, `"failed"` or `"all"` (done ones too).
   * @returns How many combinations (including ones no longer in the set) went back to todo.
   * @throws {RangeError} If `what` is not one of the four.
   * @example
   * ```ts
   * import { ParamSweeper } from "@dexp/dexp";
   * import { deepStrictEqual } from "node:assert";
   * await using s = await ParamSweeper.open(await Deno.makeTempDir(), [{ a: 1 }]);
   * await s.skip({ a: 1 }, "flaky");
   * deepStrictEqual(await s.reset("skipped"), 1);
   * ```
   */
  async reset(what: ResetWhat): Promise<number> {
    checkResetWhat(what);
    return await this.#write((emit, now) => {
      const n = this.#state.affectedByReset(what);
      emit({ op: "Z", at: now, what });
      return n;
    }, what === "failed");
  }

  /**
   * Puts this sweeper's unfinished claims back to todo, stops lease renewal and closes the
   * lock file. Further calls fail. Safe to call twice.
   *
   * @returns Resolves when closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#timers.clear(this.#timer);
    try {
      if ((this.#state.owners.get(this.#key)?.claims.size ?? 0) > 0 || this.#mine.size > 0) {
        await this.#store.transact(this.#state, true, (emit) => {
          if ((this.#state.owners.get(this.#key)?.claims.size ?? 0) > 0) {
            emit({ op: "R", at: this.#now(), owner: this.#key, why: "closed" });
          }
        });
      }
    } finally {
      this.#closed = true;
      this.#mine.clear();
      await this.#store.close();
    }
  }

  /** Same as {@linkcode ParamSweeper.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Number of compactions this sweeper performed (for tests and benchmarks). */
  get compactions(): number {
    return this.#store.compactions;
  }
}

/** Checks a reset target. */
export function checkResetWhat(what: unknown): asserts what is ResetWhat {
  if (what !== "inProgress" && what !== "skipped" && what !== "failed" && what !== "all") {
    throw new RangeError(
      `'what' must be "inProgress", "skipped", "failed" or "all": received ${JSON.stringify(what)}`,
    );
  }
}

/** The combinations in state `s` (SKIPPED or FAILED) below `end`, with their reasons. */
export function reasonsOf<C>(
  state: SweepState,
  s: number,
  end: number,
): { combination: C; reason: string }[] {
  const out: { combination: C; reason: string }[] = [];
  const { st, index } = state;
  for (let i = 0; i < end; i++) {
    if (st[i] === s) {
      out.push({ combination: JSON.parse(index.ids[i]) as C, reason: state.reasons.get(i) ?? "" });
    }
  }
  return out;
}
