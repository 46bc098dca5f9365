// The runner's view of a sweep checkpoint: claim the next combination, finish it.
// Backed by the sweep layer's ParamSweeper (crash-safe, shared by many processes).

import { type Combination, ParamSweeper } from "./_sweep.ts";

export interface ClaimStats {
  total: number;
  done: number;
  failed: number;
  todo: number;
  inProgress: number;
}

export interface ClaimStore {
  next(): Promise<Combination | undefined>;
  done(c: Combination): Promise<void>;
  fail(c: Combination, reason: string): Promise<void>;
  cancel(c: Combination): Promise<void>;
  /** The combination's state in the checkpoint: `todo`, `inProgress`, or a finished one. */
  state(c: Combination): Promise<string>;
  stats(): Promise<ClaimStats>;
  close(): Promise<void>;
}

export async function openStore(
  dir: string,
  combos: Combination[],
  options: { job?: string } = {},
): Promise<ClaimStore> {
  const sw = await ParamSweeper.open(dir, combos, options.job ? { job: options.job } : {});
  return {
    async next() {
      return (await sw.next()) ?? undefined;
    },
    async done(c) {
      await sw.done(c);
    },
    async fail(c, reason) {
      await sw.fail(c, reason);
    },
    async cancel(c) {
      await sw.cancel(c);
    },
    async state(c) {
      return (await sw.stateOf(c)).state;
    },
    async stats() {
      const s = await sw.stats();
      return {
        total: s.total,
        done: s.done,
        // The runner never skips; directories of earlier versions recorded failures as skipped.
        failed: s.failed + s.skipped,
        todo: s.todo,
        inProgress: s.inProgress,
      };
    },
    close() {
      return sw.close();
    },
  };
}
