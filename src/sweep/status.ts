/**
 * Looking at and resetting a sweep directory without the script that made it: what
 * `dexp sweep status` and `dexp sweep reset` do.
 *
 * @module
 */

import { formatDuration } from "../process/mod.ts";
import { IdIndex } from "./_id_index.ts";
import { FAILED, NSTATES, type ResetWhat, SKIPPED, SweepState } from "./_state.ts";
import { JournalStore, SweepHistoryError } from "./journal.ts";
import { currentOwner, type Owner } from "./owner.ts";
import type { Combination } from "./combination.ts";
import {
  checkResetWhat,
  type ClaimInfo,
  claimsOf,
  reasonsOf,
  statsOf,
  type SweepStats,
} from "./param_sweeper.ts";

/** The state of a sweep directory, as `dexp sweep status` shows it. */
export interface SweepStatus extends SweepStats {
  /** The sweep directory. */
  dir: string;
  /** When the sweep was created, in ms since the epoch. */
  created: number;
  /**
   * False if the directory has no list of combinations (then `total` and `todo` only count
   * combinations with records).
   */
  setKnown: boolean;
  /** Claims in progress, oldest first, each with its age in ms. */
  claims: (ClaimInfo<Combination> & { ageMs: number })[];
  /** The skipped combinations with their reasons, in input order. */
  skips: CombinationReason[];
  /** The failed combinations with their reasons, in input order. */
  failures: CombinationReason[];
  /** Combinations with records that are no longer in the set. */
  outsideSet: number;
  /** Journal lines that could not be read (damaged), skipped. */
  badLines: number;
  /** Completions per hour over the last (up to) 1,000 completions, or null if fewer than 2. */
  perHour: number | null;
  /** When the last completion was recorded, or null. */
  lastDoneAt: number | null;
  /** Estimated time to finish the remaining combinations at `perHour`, in ms, or null. */
  etaMs: number | null;
}

/** A skipped or failed combination and why. */
export interface CombinationReason {
  /** The combination. */
  combination: Combination;
  /** The reason recorded with it ("" if none was given). */
  reason: string;
}

/** Options of {@linkcode sweepStatus}. */
export interface SweepStatusOptions {
  /** The clock, in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

async function load(
  dir: string,
  read: boolean,
): Promise<{ store: JournalStore; state: SweepState; setKnown: boolean }> {
  const store = await JournalStore.open(dir, { create: false });
  try {
    const ids = JournalStore.readCombos(dir);
    const index = new IdIndex(ids?.length ?? 0);
    for (const id of ids ?? []) index.add(id);
    const state = new SweepState(index);
    if (read) await store.transact(state, false, () => {});
    return { store, state, setKnown: ids !== undefined };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * Reads the state of a sweep directory: counts, claims with owners and ages, throughput and
 * an estimate of the time left, and the skipped and failed combinations with their reasons.
 * Takes only a shared lock and writes nothing: it works on a read-only file system.
 *
 * @param dir The sweep directory.
 * @param options See {@linkcode SweepStatusOptions}.
 * @returns The status.
 * @throws {Deno.errors.NotFound} If `dir` holds no sweep.
 * @throws {SweepFormatError} If the directory is damaged or from a newer dexp.
 * @example
 * ```ts
 * import { ParamSweeper, sweepStatus } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await using s = await ParamSweeper.open(dir, [{ a: 1 }, { a: 2 }]);
 * await s.done({ a: 1 });
 * const st = await sweepStatus(dir);
 * deepStrictEqual([st.done, st.todo], [1, 1]);
 * ```
 */
export async function sweepStatus(
  dir: string,
  options: SweepStatusOptions = {},
): Promise<SweepStatus> {
  const now = (options.now ?? Date.now)();
  const { store, state, setKnown } = await load(dir, true);
  await store.close();
  let counts = state.counts;
  let outsideSet = 0;
  if (setKnown) {
    for (let i = state.known; i < state.index.size; i++) {
      if (state.st[i] !== 0 || state.tok[i] !== 0) outsideSet++;
    }
  } else {
    // Without the list, count every combination that has records.
    counts = new Array(NSTATES).fill(0);
    for (let i = 0; i < state.index.size; i++) counts[state.st[i]]++;
  }
  const me: Owner = currentOwner();
  const all = claimsOf<Combination>(state, me, now, !setKnown);
  const claims = all.map((c) => ({ ...c, ageMs: Math.max(0, now - c.since) }))
    .sort((a, b) => a.since - b.since);
  const end = setKnown ? state.known : state.index.size;
  const skips = reasonsOf<Combination>(state, SKIPPED, end);
  const failures = reasonsOf<Combination>(state, FAILED, end);
  const times = state.orderedDoneTimes();
  let perHour: number | null = null;
  if (times.length >= 2) {
    const span = times[times.length - 1] - times[0];
    perHour = span > 0 ? (times.length - 1) / span * 3_600_000 : null;
  }
  const stats = statsOf(counts);
  return {
    dir,
    ...stats,
    created: state.created,
    setKnown,
    claims,
    skips,
    failures,
    outsideSet,
    badLines: state.badLines,
    perHour,
    lastDoneAt: times.length ? times[times.length - 1] : null,
    etaMs: perHour && stats.remaining > 0
      ? stats.remaining / perHour * 3_600_000
      : perHour
      ? 0
      : null,
  };
}

/**
 * Puts combinations of a sweep directory back to todo (what `dexp sweep reset` does):
 * `"inProgress"` releases all claims (their workers' completions are still accepted if nobody
 * claimed the combination since), `"skipped"` and `"failed"` give skipped or failed ones
 * another chance, `"all"` starts over (done ones too). `"all"` also starts over a directory
 * whose history is missing or inconsistent (a removed journal), which everything else refuses;
 * it then returns 0 (what was lost cannot be counted).
 *
 * @param dir The sweep directory.
 * @param what Which combinations.
 * @returns How many combinations went back to todo.
 * @throws {RangeError} If `what` is not one of the four.
 * @throws {Deno.errors.NotFound} If `dir` holds no sweep.
 * @throws {SweepWriteError} If the directory cannot be written (read-only, disk full).
 * @example
 * ```ts
 * import { ParamSweeper, resetSweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await using s = await ParamSweeper.open(dir, [{ a: 1 }]);
 * await s.skip({ a: 1 }, "node down");
 * deepStrictEqual(await resetSweep(dir, "skipped"), 1);
 * ```
 */
export async function resetSweep(dir: string, what: ResetWhat): Promise<number> {
  checkResetWhat(what);
  const { store, state } = await load(dir, false);
  try {
    return await store.transact(state, true, (emit) => {
      const n = state.affectedByReset(what);
      emit({ op: "Z", at: Date.now(), what });
      return n;
    }, { format2: what === "failed" });
  } catch (e) {
    if (!(e instanceof SweepHistoryError) || what !== "all") throw e;
    await store.startOver(state);
    return 0;
  } finally {
    await store.close();
  }
}

/** A reason on one line of the status: newlines shown as "⏎", cut at 200 characters. */
function oneLine(s: string): string {
  const t = s.replace(/\r?\n/g, " ⏎ ");
  return t.length > 200 ? t.slice(0, 199) + "…" : t;
}

function pct(x: number): string {
  return (x * 100).toFixed(1) + "%";
}

/**
 * Formats a status as the text `dexp sweep status` prints.
 *
 * @param status A status from {@linkcode sweepStatus}.
 * @param options `maxClaims`: how many claims, and how many failed and skipped combinations,
 * to list (default 20).
 * @returns Several lines of text.
 * @example
 * ```ts
 * import { formatSweepStatus, ParamSweeper, sweepStatus } from "@dexp/dexp";
 * import { match } from "node:assert";
 * const dir = await Deno.makeTempDir();
 * await using s = await ParamSweeper.open(dir, [{ a: 1 }]);
 * match(formatSweepStatus(await sweepStatus(dir)), /todo +1/);
 * ```
 */
export function formatSweepStatus(
  status: SweepStatus,
  options: { maxClaims?: number } = {},
): string {
  const max = options.maxClaims ?? 20;
  const lines = [
    `sweep ${status.dir}`,
    `  total       ${status.total}${
      status.setKnown ? "" : " (no list of combinations: only those with records)"
    }`,
    `  done        ${status.done} (${pct(status.doneRatio)})`,
    `  skipped     ${status.skipped} (${pct(status.skippedRatio)})`,
    `  failed      ${status.failed} (${pct(status.failedRatio)})`,
    `  in progress ${status.inProgress} (${pct(status.inProgressRatio)})`,
    `  todo        ${status.todo} (${pct(status.todoRatio)})`,
  ];
  if (status.perHour !== null) {
    lines.push(
      `  throughput  ${
        status.perHour.toFixed(status.perHour < 10 ? 2 : 0)
      }/h (last 1000 completions)`,
    );
  } else {
    lines.push(`  throughput  unknown (fewer than 2 completions)`);
  }
  if (status.etaMs !== null) lines.push(`  eta         ${formatDuration(status.etaMs)}`);
  if (status.outsideSet > 0) {
    lines.push(
      `  ${status.outsideSet} recorded combinations are no longer in the set (not counted)`,
    );
  }
  if (status.badLines > 0) lines.push(`  ${status.badLines} damaged journal lines were skipped`);
  if (status.claims.length > 0) {
    lines.push("", "in progress (oldest first):");
    for (const c of status.claims.slice(0, max)) {
      const o = c.owner;
      lines.push(
        `  ${o.host} pid ${o.pid}  ${formatDuration(c.ageMs).padStart(7)}  ${
          c.liveness.padEnd(13)
        }  ${JSON.stringify(c.combination)}`,
      );
    }
    if (status.claims.length > max) lines.push(`  ... and ${status.claims.length - max} more`);
  }
  for (const [title, list] of [["failed", status.failures], ["skipped", status.skips]] as const) {
    if (list.length === 0) continue;
    lines.push("", `${title}:`);
    for (const x of list.slice(0, max)) {
      lines.push(
        `  ${JSON.stringify(x.combination)}  ${
          x.reason === "" ? "(no reason given)" : oneLine(x.reason)
        }`,
      );
    }
    if (list.length > max) lines.push(`  ... and ${list.length - max} more`);
  }
  return lines.join("\n");
}
