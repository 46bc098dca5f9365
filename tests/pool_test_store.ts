/**
 * A small DispatchStore for the dispatcher's tests, until the pool's own store is wired in:
 * one JSON file in the pool directory, changed under an exclusive file lock and replaced
 * atomically, so a dispatcher in another process (killed at any moment) and the test share it.
 *
 * @module
 */

import type {
  AttemptOutcome,
  DispatchJob,
  DispatchMachine,
  DispatchStore,
  DispatchView,
} from "../src/pool/dispatch_store.ts";
import type { JobRef } from "../src/jobs/mod.ts";
import { writeTextAtomic } from "../src/pool/dispatch_lock.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What the file holds. */
export interface TestState {
  machines: Mutable<DispatchMachine>[];
  jobs: (Mutable<DispatchJob> & { startSeq: number[]; ends: number })[];
  seq: number;
}

/** A machine to add, with defaults. */
export type MachineInput = Partial<DispatchMachine> & Pick<DispatchMachine, "name" | "host">;
/** A job to add, with defaults. */
export type JobInput = Partial<DispatchJob> & Pick<DispatchJob, "id" | "command">;

/** The test store. */
export class TestStore implements DispatchStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async #locked<T>(fn: (s: TestState) => T, write: boolean): Promise<T> {
    const f = await Deno.open(`${this.dir}/store.lock`, { read: true, write: true, create: true });
    try {
      await f.lock(true);
      let s: TestState;
      try {
        s = JSON.parse(await Deno.readTextFile(`${this.dir}/store.json`));
      } catch {
        s = { machines: [], jobs: [], seq: 0 };
      }
      const out = fn(s);
      if (write) await writeTextAtomic(`${this.dir}/store.json`, JSON.stringify(s));
      return out;
    } finally {
      f.close();
    }
  }

  /** Reads the whole state. */
  state(): Promise<TestState> {
    return this.#locked((s) => s, false);
  }

  /** Changes the state. */
  change(fn: (s: TestState) => void): Promise<void> {
    return this.#locked(fn, true);
  }

  /** Adds machines. */
  addMachines(...ms: MachineInput[]): Promise<void> {
    return this.change((s) => {
      for (const m of ms) {
        s.machines.push({
          class: "c",
          slots: ["0"],
          slotEnv: {},
          prefix: null,
          setup: [],
          state: "new",
          setupRef: null,
          setupFingerprint: null,
          faults: 0,
          ...m,
        });
      }
    });
  }

  /** Adds jobs at the end of the queue. */
  addJobs(...js: JobInput[]): Promise<void> {
    return this.change((s) => {
      for (const j of js) {
        s.jobs.push({
          class: "c",
          vars: {},
          results: null,
          outputs: [],
          timeout: null,
          attempts: 1,
          infraCounts: false,
          state: "waiting",
          tries: [],
          copyPaths: [],
          copyFailures: 0,
          startSeq: [],
          ends: 0,
          ...j,
        });
      }
    });
  }

  read(): Promise<DispatchView> {
    return this.#locked((s) => ({ machines: s.machines, jobs: s.jobs, tag: "test" }), false);
  }

  #job(s: TestState, id: string) {
    const j = s.jobs.find((x) => x.id === id);
    if (!j) throw new Error(`no job ${id}`);
    return j;
  }

  #machine(s: TestState, name: string) {
    const m = s.machines.find((x) => x.name === name);
    if (!m) throw new Error(`no machine ${name}`);
    return m;
  }

  setupStarted(machine: string, ref: JobRef, fingerprint: string): Promise<void> {
    return this.change((s) => {
      const m = this.#machine(s, machine);
      m.state = "setup";
      m.setupRef = ref;
      m.setupFingerprint = fingerprint;
    });
  }

  setupEnded(machine: string, ok: boolean, fingerprint: string, reason: string | null) {
    return this.change((s) => {
      const m = this.#machine(s, machine) as Mutable<DispatchMachine> & { reason?: string };
      m.state = ok ? "ready" : "failed";
      m.setupRef = null;
      m.setupFingerprint = fingerprint;
      if (reason) m.reason = reason;
    });
  }

  machineFault(machine: string, reason: string, quarantine: boolean): Promise<void> {
    return this.change((s) => {
      const m = this.#machine(s, machine) as Mutable<DispatchMachine> & { reason?: string };
      m.faults++;
      m.reason = reason;
      if (quarantine) m.state = "quarantined";
    });
  }

  machineOk(machine: string): Promise<void> {
    return this.change((s) => {
      this.#machine(s, machine).faults = 0;
    });
  }

  attemptStarting(job: string, machine: string, slot: string, name: string): Promise<boolean> {
    return this.#locked((s) => {
      const j = this.#job(s, job);
      if (j.state !== "waiting") return false;
      j.state = "running";
      j.tries = [...j.tries, {
        machine,
        slot,
        name,
        ref: null,
        start: Date.now(),
        end: null,
        outcome: null,
      }];
      j.startSeq.push(++s.seq);
      return true;
    }, true);
  }

  attemptStarted(job: string, ref: JobRef): Promise<void> {
    return this.change((s) => {
      const j = this.#job(s, job);
      const last = j.tries.at(-1)!;
      j.tries = [...j.tries.slice(0, -1), { ...last, ref }];
    });
  }

  attemptEnded(
    job: string,
    outcome: AttemptOutcome,
    next: "waiting" | "copying" | "done" | "failed" | "canceled" | "lost",
    copyPaths: readonly string[],
  ): Promise<boolean> {
    return this.#locked((s) => {
      const j = this.#job(s, job);
      const last = j.tries.at(-1);
      if (!last || last.end !== null) return false;
      j.tries = [...j.tries.slice(0, -1), { ...last, end: Date.now(), outcome }];
      j.ends++;
      if (j.state !== "canceled") j.state = next;
      j.copyPaths = [...copyPaths];
      return true;
    }, true);
  }

  copyEnded(job: string, ok: boolean): Promise<void> {
    return this.change((s) => {
      const j = this.#job(s, job);
      if (j.state !== "copying") return;
      if (ok) j.state = "done";
      else j.copyFailures++;
    });
  }
}
