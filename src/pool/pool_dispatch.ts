/**
 * The dispatcher over a pool directory: {@linkcode servePool} runs {@linkcode serve} with the
 * pool's own store ({@linkcode Pool}). Two things the dispatcher needs across a restart and
 * the pool's records do not hold are kept beside them, in `DIR/dispatch/` (each file written
 * atomically): the reference of a running setup job, and the results paths of a job being
 * copied back with its failed copies so far.
 *
 * @module
 */

import { slotValues } from "./slots.ts";
import { jobName, serve, type ServeOptions } from "./dispatcher.ts";
import type {
  AttemptOutcome,
  DispatchAttempt,
  DispatchJob,
  DispatchMachine,
  DispatchStore,
  DispatchView,
} from "./dispatch_store.ts";
import { writeTextAtomic } from "./dispatch_lock.ts";
import { setupCommands, setupFingerprint } from "./setup_runner.ts";
import { PoolStateError } from "./errors.ts";
import type {
  Attempt,
  AttemptOutcome as PoolOutcome,
  Machine,
  MachineState,
  PoolClass,
  PoolJob,
} from "./types.ts";
import type { JobRef } from "../jobs/mod.ts";
import { Host } from "../ssh/mod.ts";

/**
 * The operations of a pool (`Pool`) that the dispatcher uses: named here so that this module
 * does not import `pool.ts` (which imports this one for `pool.serve()`).
 */
export interface DispatchPool {
  /** The pool directory. */
  readonly dir: string;
  /** Reads what other processes wrote. */
  refresh(): Promise<boolean>;
  /** The classes. */
  classes(): Promise<PoolClass[]>;
  /** The machines. */
  machines(filter?: { removed?: boolean }): Promise<Machine[]>;
  /** The jobs, in queue order. */
  jobs(): Promise<PoolJob[]>;
  /** One job. */
  job(id: number): Promise<PoolJob | undefined>;
  /** The pool variables. */
  vars(): Promise<Record<string, string>>;
  /** A setup started. */
  setupStarted(name: string, info: { fingerprint: string; log?: string | null }): Promise<unknown>;
  /** A setup succeeded. */
  setupSucceeded(
    name: string,
    info: { fingerprint: string; log?: string | null },
  ): Promise<unknown>;
  /** A setup failed. */
  setupFailed(
    name: string,
    info: { fingerprint: string; log?: string | null; reason: string },
  ): Promise<unknown>;
  /** An infrastructure failure of a machine. */
  infraFailure(name: string, reason: string, limit?: number): Promise<unknown>;
  /** Claims a waiting job for a slot. */
  claim(id: number, where: { machine: string; slot: string }): Promise<unknown>;
  /** Records the detached job of an attempt. */
  setAttemptRef(id: number, attempt: number, ref: JobRef): Promise<unknown>;
  /** An attempt's command ended, its results are copied. */
  startCopying(id: number, attempt: number, exitCode?: number | null): Promise<unknown>;
  /** Ends an attempt. */
  finishAttempt(id: number, attempt: number, end: {
    outcome: PoolOutcome;
    reason?: string | null;
    exitCode?: number | null;
    infrastructure?: boolean;
    results?: string | null;
  }): Promise<unknown>;
}

const MACHINE_STATES: Record<MachineState, DispatchMachine["state"]> = {
  "new": "new",
  "setting-up": "setup",
  "ready": "ready",
  "setup-failed": "failed",
  "quarantined": "quarantined",
  "removed": "removed",
};

function kindOf(a: Attempt): AttemptOutcome["kind"] {
  switch (a.outcome) {
    case "done":
      return "ok";
    case "lost":
      return "lost";
    case "canceled":
      return "canceled";
    case "failed":
      return a.infrastructure ? "infra" : "exit";
    default:
      return "ok";
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

interface CopyRecord {
  paths: string[];
  failures: number;
}

/**
 * A {@linkcode DispatchStore} over a pool.
 *
 * @param pool The open pool.
 * @returns The store the dispatcher uses.
 */
export function dispatchStoreOf(pool: DispatchPool): DispatchStore {
  const side = `${pool.dir}/dispatch`;
  const setupFile = (m: string) => `${side}/setup-${encodeURIComponent(m)}.json`;
  const copyFile = (id: string) => `${side}/copy-${id}.json`;
  const ensure = () => Deno.mkdir(side, { recursive: true });
  let tagCache: string | null = null;
  /** A random tag made once per pool directory (`DIR/dispatch/tag`, never replaced). */
  const poolTag = async (): Promise<string> => {
    if (tagCache) return tagCache;
    const file = `${side}/tag`;
    let t = (await Deno.readTextFile(file).catch(() => "")).trim();
    if (!/^[a-z0-9]{8,12}$/.test(t)) {
      await ensure();
      const mine = Array.from(
        crypto.getRandomValues(new Uint8Array(10)),
        (b) => (b % 36).toString(36),
      )
        .join("");
      const tmp = `${file}.${mine}`;
      await Deno.writeTextFile(tmp, mine + "\n");
      // link() fails if another process made the tag first: then theirs wins.
      await Deno.link(tmp, file).catch(() => {});
      await Deno.remove(tmp).catch(() => {});
      t = (await Deno.readTextFile(file)).trim();
    }
    tagCache = t;
    return t;
  };
  const attemptOf = async (id: string): Promise<number> => {
    const j = await pool.job(Number(id));
    if (!j || !j.attempts.length) throw new PoolStateError(`Job ${id} has no attempt`);
    return j.attempts.length - 1;
  };
  const refused = (e: unknown) => {
    if (e instanceof PoolStateError) return false;
    throw e;
  };
  return {
    changed(): Promise<boolean> {
      return pool.refresh();
    },

    async read(): Promise<DispatchView> {
      await pool.refresh();
      const tag = await poolTag();
      const [classes, machines, jobs, vars] = await Promise.all([
        pool.classes(),
        pool.machines({ removed: true }),
        pool.jobs(),
        pool.vars(),
      ]);
      const cls = new Map(classes.map((c) => [c.name, c]));
      const dm: DispatchMachine[] = [];
      for (const m of machines) {
        const c = cls.get(m.class);
        if (!c) continue;
        let state = MACHINE_STATES[m.state];
        if (state === "ready" && m.setup && c.setup.length) {
          // Its class's setup changed since it ran: set it up again.
          const host = new Host(m.host);
          const fp = await setupFingerprint(
            setupCommands({ name: m.name, host, class: m.class, commands: c.setup, vars }),
          ).catch(() => m.setup!.fingerprint);
          if (fp !== m.setup.fingerprint) state = "new";
        }
        const setupRef = state === "setup"
          ? (await readJson<{ ref: JobRef }>(setupFile(m.name)))?.ref ?? null
          : null;
        dm.push({
          name: m.name,
          host: m.host,
          class: m.class,
          slots: slotValues(c.slots),
          slotEnv: c.env,
          prefix: c.prefix,
          setup: c.setup,
          // A setup whose job reference was not kept (the dispatcher died before it) runs again.
          state: state === "setup" && setupRef === null ? "new" : state,
          setupRef,
          setupFingerprint: m.setup?.fingerprint ?? null,
          faults: m.infraFailures,
          vars,
          setupTimeout: c.setupTimeout,
        });
      }
      const dj: DispatchJob[] = [];
      for (const j of jobs) {
        const id = String(j.id);
        const copy = j.state === "copying" ? await readJson<CopyRecord>(copyFile(id)) : null;
        dj.push({
          id,
          class: j.class,
          command: j.command,
          vars: { ...vars, ...j.vars },
          results: j.results,
          outputs: j.outputs,
          timeout: j.timeout,
          // The pool applies the retry policy (from its countFrom) when an attempt ends.
          attempts: j.retry.attempts,
          infraCounts: j.retry.countInfrastructure,
          state: j.state,
          tries: j.attempts.map((a, i): DispatchAttempt => ({
            machine: a.machine,
            slot: a.slot,
            name: jobName(tag, { id }, i + 1),
            ref: a.ref,
            start: a.start,
            end: a.end ?? (a.ran !== null ? a.ran : null),
            outcome: a.outcome === null && a.ran === null
              ? null
              : { kind: kindOf(a), exitCode: a.exitCode, reason: a.reason },
          })),
          copyPaths: copy?.paths ?? [],
          copyFailures: copy?.failures ?? 0,
        });
      }
      return { machines: dm, jobs: dj, tag };
    },

    async setupStarted(machine: string, ref: JobRef, fingerprint: string): Promise<void> {
      await ensure();
      await writeTextAtomic(setupFile(machine), JSON.stringify({ ref, fingerprint }) + "\n");
      await pool.setupStarted(machine, { fingerprint });
    },

    async setupEnded(machine, ok, fingerprint, reason, log): Promise<void> {
      if (ok) await pool.setupSucceeded(machine, { fingerprint, log });
      else await pool.setupFailed(machine, { fingerprint, log, reason: reason ?? "setup failed" });
      await Deno.remove(setupFile(machine)).catch(() => {});
    },

    async machineFault(machine: string, reason: string, quarantine: boolean): Promise<void> {
      await pool.infraFailure(machine, reason, quarantine ? 0 : Number.MAX_SAFE_INTEGER);
    },

    async machineOk(): Promise<void> {
      // The pool resets a machine's count when one of its attempts is done.
    },

    async attemptStarting(job: string, machine: string, slot: string): Promise<boolean> {
      return await pool.claim(Number(job), { machine, slot }).then(() => true, refused);
    },

    async attemptStarted(job: string, ref: JobRef): Promise<void> {
      await pool.setAttemptRef(Number(job), await attemptOf(job), ref);
    },

    async attemptEnded(job, outcome, next, copyPaths): Promise<boolean> {
      const j: PoolJob | undefined = await pool.job(Number(job));
      const n = j ? j.attempts.length - 1 : -1;
      const a = j?.attempts[n];
      if (!j || !a || a.end !== null || a.ran !== null) return false;
      if (next === "copying") {
        await ensure();
        await writeTextAtomic(
          copyFile(job),
          JSON.stringify({ paths: [...copyPaths], failures: 0 } satisfies CopyRecord) + "\n",
        );
        return await pool.startCopying(Number(job), n, outcome.exitCode).then(() => true, refused);
      }
      const map = {
        ok: "done",
        exit: "failed",
        signal: "failed",
        timeout: "failed",
        infra: "failed",
        lost: "lost",
        canceled: "canceled",
      } as const;
      return await pool.finishAttempt(Number(job), n, {
        outcome: map[outcome.kind],
        reason: outcome.reason,
        exitCode: outcome.exitCode,
        infrastructure: outcome.kind === "infra" || outcome.kind === "lost",
      }).then(() => true, refused);
    },

    async copyEnded(job: string, ok: boolean, reason: string | null): Promise<void> {
      const file = copyFile(job);
      const rec = (await readJson<CopyRecord>(file)) ?? { paths: [], failures: 0 };
      if (!ok) {
        await writeTextAtomic(file, JSON.stringify({ ...rec, failures: rec.failures + 1 }) + "\n");
        return;
      }
      const j = await pool.job(Number(job));
      if (j?.results) {
        await pool.finishAttempt(Number(job), j.attempts.length - 1, {
          outcome: "done",
          results: `${j.results}/${job}`,
          reason,
        }).catch(refused);
      }
      await Deno.remove(file).catch(() => {});
    },
  };
}

/**
 * Runs the pool's dispatcher (see {@linkcode serve}) until stopped, or until idle with
 * `until: "idle"`.
 *
 * @param pool The open pool.
 * @param options Stop signal, poll interval, quarantine threshold ... (`dir` is the pool's).
 * @returns Resolves when stopped.
 * @throws {DispatcherBusyError} If another dispatcher serves the pool directory.
 */
export function servePool(pool: DispatchPool, options: Partial<ServeOptions> = {}): Promise<void> {
  return serve(dispatchStoreOf(pool), { ...options, dir: pool.dir });
}
