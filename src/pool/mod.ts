/**
 * The pool layer: machines in classes (slots, setup), a persistent queue of jobs (matrices,
 * repeats, retries, every attempt kept) in a directory that many processes share: an
 * append-only journal written under a file lock and fsynced, compacted into a snapshot by an
 * atomic rename. Any `dexp` command reads and changes it; one dispatcher runs the jobs.
 *
 * ```ts
 * import { initPool } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await using pool = await initPool(dir, { classes: [{ name: "cpu", slots: 2 }] });
 * const jobs = await pool.matrix({ class: "cpu", command: "./run {n}", matrix: { n: ["1", "2"] } });
 * console.log(jobs.map((j) => j.vars.n)); // ["1", "2"]
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export * from "./matrix.ts";
export {
  type AttemptEnd,
  type ClaimSpec,
  initPool,
  type InitPoolOptions,
  type JobFilter,
  type MatrixSpec,
  openPool,
  type OpenPoolOptions,
  Pool,
  type PoolChange,
  type PoolStat,
  type SetupInfo,
  type StatRow,
  type SubmitSpec,
} from "./pool.ts";
export { POOL_FORMAT_VERSION } from "./_journal.ts";
export { serve, type ServeOptions } from "./dispatcher.ts";
export {
  DispatcherBusyError,
  type DispatcherHolder,
  DispatchLock,
  readHolder,
} from "./dispatch_lock.ts";
export { type DispatchPool, dispatchStoreOf, servePool } from "./pool_dispatch.ts";
export type {
  AttemptOutcome as DispatchOutcome,
  DispatchAttempt,
  DispatchJob,
  DispatchMachine,
  DispatchStore,
  DispatchView,
} from "./dispatch_store.ts";
export {
  type PlacedCommand,
  placeOnSlot,
  SlotBoard,
  type SlotPlacement,
  slotValues,
} from "./slots.ts";
export {
  finishSetup,
  runSetups,
  setupCommands,
  setupFingerprint,
  type SetupMachine,
  type SetupOptions,
  type SetupOutcome,
  type StartedSetup,
  startSetup,
} from "./setup_runner.ts";
export {
  copyBack,
  CopyBackError,
  type CopyBackOptions,
  type CopyBackOutcome,
  RESULTS_PREFIX,
  resultsPaths,
} from "./copy_back.ts";
