/**
 * The dispatcher: one process per pool directory (see `dispatch_lock.ts`) that runs machines'
 * setups and the queue's jobs as detached jobs. Each tick it re-reads the store (so jobs and
 * machines added, held, canceled or removed by any `dexp` command take effect), polls the jobs
 * it runs (one round trip per host), records what ended, copies results back, and starts
 * waiting jobs in queue order per class on the first free slot.
 *
 * Nothing lives only in its memory: the store records an attempt (machine, slot, detached job
 * name) before the job starts and the job's reference right after, so a dispatcher killed at
 * any moment and started again takes every running job back (`attachJobs`), finds one whose
 * reference it did not record yet by its name (`listJobs`), collects the ones that ended
 * meanwhile, and resumes copies. The store ignores a second end of one attempt, so every job
 * ends once.
 *
 * A start the dispatcher cannot vouch for (it died while starting, or the start failed after
 * reaching the host) may still land later: the killed dispatcher's ssh outlives it, and a
 * remote start script runs on after its connection dropped. So every start claims its name on
 * the host (`detach(..., { unique: true })`), and before giving such an attempt up the
 * dispatcher claims the same name as a fence (`claimJobName`): either the job is there and is
 * taken back, or it never will be, and only then does the job wait again.
 *
 * @module
 */

import { GroupError, Hosts } from "../action/mod.ts";
import { fillPlaceholders } from "../process/mod.ts";
import { Host } from "../ssh/mod.ts";
import {
  attachJobs,
  detach,
  Job,
  JobGroup,
  type JobRef,
  type JobStatus,
  listJobs,
  settleJobName,
  startRanNothing,
} from "../jobs/mod.ts";
import { copyBack, resultsPaths } from "./copy_back.ts";
import { DispatchLock } from "./dispatch_lock.ts";
import type {
  AttemptOutcome,
  DispatchJob,
  DispatchMachine,
  DispatchStore,
  DispatchView,
} from "./dispatch_store.ts";
import { finishSetup, startSetup } from "./setup_runner.ts";
import { placeOnSlot, SlotBoard } from "./slots.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** The pool directory: the dispatcher lock and the setup logs (`setup-logs/`) live there. */
  readonly dir: string;
  /** Stops the dispatcher (running jobs keep running: a later dispatcher takes them back). */
  readonly signal?: AbortSignal;
  /** Time between two polls of the running jobs on their hosts, in ms (default 500). */
  readonly poll?: number;
  /** Time between two cheap checks of the store for changes, in ms (default 25). */
  readonly watch?: number;
  /** `idle`: return once nothing waits, runs, copies or sets up. Default: run until stopped. */
  readonly until?: "stopped" | "idle";
  /** Infrastructure failures in a row that quarantine a machine (default 3). */
  readonly quarantineAfter?: number;
  /** Time limit of a setup run, in ms (default 10 minutes). */
  readonly setupTimeout?: number;
  /** Time between two machines' setup starts, in ms (default 500). */
  readonly stagger?: number;
  /** The jobs root on the machines (default `~/.dexp/jobs`). */
  readonly jobsRoot?: string;
  /** Grace between SIGTERM and SIGKILL when a job is canceled or timed out, in ms (2000). */
  readonly killGrace?: number;
  /** Told about each step, for a log. */
  readonly onEvent?: (line: string) => void;
}

interface Active {
  readonly job: DispatchJob;
  readonly machine: string;
  readonly slot: string;
  readonly start: number;
  handle: Job | null;
  busy: boolean;
  stop: "cancel" | "timeout" | null;
}

const INFRA: readonly AttemptOutcome["kind"][] = ["infra", "lost"];

/** Ended attempts that use up one of the job's attempts. */
function attemptsUsed(job: DispatchJob): number {
  return job.tries.filter((t) =>
    t.end !== null && (job.infraCounts || !INFRA.includes(t.outcome?.kind ?? "ok"))
  ).length;
}

/**
 * The name of the detached job of a pool job's attempt: found by it after a restart. The
 * pool's tag keeps apart pools (and pools made again in one place) whose job ids repeat on the
 * same host.
 *
 * @param tag The pool's tag (letters and digits).
 * @param job The job (its id).
 * @param attempt The attempt number, from 1.
 * @returns The name.
 */
export function jobName(tag: string, job: { readonly id: string }, attempt: number): string {
  const safe = job.id.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  return `pool-${tag.slice(0, 12)}-${safe.slice(0, 36)}-${attempt}`;
}

/**
 * Runs a pool's dispatcher until stopped (or idle with `until: "idle"`).
 *
 * @param store The pool's store.
 * @param options Pool directory, stop signal, poll interval, quarantine threshold, timeouts.
 * @returns Resolves when stopped; the lock is released.
 * @throws {DispatcherBusyError} If another dispatcher serves the pool directory.
 */
export async function serve(store: DispatchStore, options: ServeOptions): Promise<void> {
  await using lock = await DispatchLock.acquire(options.dir);
  void lock;
  const d = new Dispatcher(store, options);
  await d.run();
}

class Dispatcher {
  #store: DispatchStore;
  #o: ServeOptions;
  #board = new SlotBoard();
  #hosts = new Map<string, { key: string; host: Host }>();
  #active = new Map<string, Active>();
  #setups = new Set<string>();
  #copies = new Set<string>();
  #copyNext = new Map<string, number>();
  #tasks = new Set<Promise<void>>();
  #nextSetup = 0;
  /** Reads of the store so far; per machine, the read during which its last setup ended. */
  #reads = 0;
  #setupEndedAt = new Map<string, number>();
  #copyEndedAt = new Map<string, number>();
  /** Something changed here (a slot freed, a copy done): read the store at the next turn. */
  #dirty = false;
  #faults = new Map<string, number>();
  #storedFaults = new Map<string, number>();
  /** Per job, how many of its attempts this dispatcher saw end. */
  #ended = new Map<string, number>();

  constructor(store: DispatchStore, options: ServeOptions) {
    this.#store = store;
    this.#o = options;
  }

  #log(line: string): void {
    this.#o.onEvent?.(line);
  }

  #spawn(what: string, fn: () => Promise<void>): void {
    const p = fn().catch((e) => this.#log(`${what}: ${(e as Error).message}`)).finally(() =>
      this.#tasks.delete(p)
    );
    this.#tasks.add(p);
  }

  #host(m: DispatchMachine): Host {
    const key = JSON.stringify(m.host);
    const c = this.#hosts.get(m.name);
    if (c && c.key === key) return c.host;
    const host = new Host(typeof m.host === "string" ? m.host : { name: m.name, ...m.host });
    this.#hosts.set(m.name, { key, host });
    return host;
  }

  async run(): Promise<void> {
    const signal = this.#o.signal;
    const poll = this.#o.poll ?? 500;
    const watch = Math.min(poll, this.#o.watch ?? 25);
    let lastPoll = -Infinity;
    try {
      while (!signal?.aborted) {
        // The jobs on the hosts are polled every `poll` ms; the store is watched more often
        // (a cheap check), so that a job queued for a free slot starts at once.
        const due = Date.now() - lastPoll >= poll;
        const changed = this.#dirty || (this.#store.changed ? await this.#store.changed() : due);
        if (due || changed) {
          this.#dirty = false;
          const readNo = ++this.#reads;
          const view = await this.#store.read();
          await this.#tick(view, due, readNo);
          if (due) lastPoll = Date.now();
          if (this.#o.until === "idle" && this.#idle(view)) break;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, watch);
          function done() {
            clearTimeout(t);
            signal?.removeEventListener("abort", done);
            resolve();
          }
          signal?.addEventListener("abort", done, { once: true });
        });
      }
    } finally {
      while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
      await new Hosts([...this.#hosts.values()].map((h) => h.host)).close().catch(() => {});
    }
  }

  #idle(view: DispatchView): boolean {
    if (this.#active.size || this.#setups.size || this.#copies.size || this.#tasks.size) {
      return false;
    }
    const live = new Set(
      view.machines.filter((m) => ["new", "setup", "ready"].includes(m.state)).map((m) => m.class),
    );
    if (view.machines.some((m) => m.state === "new" || m.state === "setup")) return false;
    return !view.jobs.some((j) =>
      j.state === "running" || j.state === "copying" || (j.state === "waiting" && live.has(j.class))
    );
  }

  async #tick(view: DispatchView, pollHosts: boolean, readNo: number): Promise<void> {
    const machines = new Map(view.machines.map((m) => [m.name, m]));
    // Machines: slots, setups.
    for (const m of view.machines) {
      if (m.state === "removed") {
        this.#board.removeMachine(m.name);
        continue;
      }
      this.#board.setMachine(m.name, m.slots);
      this.#storedFaults.set(m.name, m.faults);
      // A setup that ended while this view was read may still show in it as new or running.
      const stale = (this.#setupEndedAt.get(m.name) ?? 0) >= readNo;
      if ((m.state === "new" || m.state === "setup") && !this.#setups.has(m.name) && !stale) {
        this.#setups.add(m.name);
        this.#spawn(`setup of ${m.name}`, () => this.#setup(m));
      }
    }
    // Jobs found running or copying (at start, or after a restart) and cancellations.
    for (const j of view.jobs) {
      const a = this.#active.get(j.id);
      if (a) {
        if (j.state === "canceled" && a.stop === null) {
          a.stop = "cancel";
          this.#spawn(`cancel of ${j.id}`, () => this.#stop(a));
        }
        continue;
      }
      const last = j.tries.at(-1);
      // A view read before one of our own ends was recorded still shows that attempt open.
      if ((this.#ended.get(j.id) ?? 0) >= j.tries.length && j.state === "running") continue;
      if (j.state === "running" && last && last.end === null) {
        const m = machines.get(last.machine);
        if (!m) continue;
        this.#board.setMachine(m.name, m.slots);
        this.#board.occupy(m.name, last.slot, j.id);
        const act: Active = {
          job: j,
          machine: m.name,
          slot: last.slot,
          start: last.start,
          handle: null,
          busy: true,
          stop: null,
        };
        this.#active.set(j.id, act);
        this.#spawn(`reattach of ${j.id}`, () => this.#reattach(act, m, last.ref, last.name));
      } else if (
        j.state === "copying" && !this.#copies.has(j.id) &&
        (this.#copyEndedAt.get(j.id) ?? 0) < readNo // Not a view from before our last copy.
      ) {
        const at = this.#copyNext.get(j.id) ?? 0;
        const m = last ? machines.get(last.machine) : undefined;
        if (Date.now() >= at && m) {
          this.#copies.add(j.id);
          this.#spawn(`copy of ${j.id}`, () => this.#copy(j, m));
        }
      }
    }
    if (pollHosts) await this.#pollActive();
    await this.#schedule(view);
  }

  async #setup(m: DispatchMachine): Promise<void> {
    try {
      const o = this.#o;
      let ref: JobRef | null = m.state === "setup" ? m.setupRef : null;
      let fp = m.setupFingerprint ?? "";
      if (ref === null && m.setup.length === 0) {
        await this.#store.setupEnded(m.name, true, "", null, null);
        return;
      }
      if (ref === null) {
        const wait = Math.max(0, this.#nextSetup - Date.now());
        this.#nextSetup = Math.max(Date.now(), this.#nextSetup) + (o.stagger ?? 500);
        if (wait) await new Promise((r) => setTimeout(r, wait));
        const machine = {
          name: m.name,
          host: this.#host(m),
          class: m.class,
          commands: m.setup,
          vars: m.vars ?? {},
        };
        let started;
        try {
          started = await startSetup(machine, o.jobsRoot ? { jobsRoot: o.jobsRoot } : {});
        } catch (e) {
          const reason = (e as Error).message;
          this.#log(`setup of ${m.name} could not start: ${reason}`);
          await this.#store.setupEnded(m.name, false, "", reason, null);
          return;
        }
        fp = started.fingerprint;
        if (started.skipped) {
          this.#log(`setup of ${m.name}: already done (fingerprint ${fp.slice(0, 12)})`);
          await this.#store.setupEnded(m.name, true, fp, null, null);
          return;
        }
        ref = started.ref;
        await this.#store.setupStarted(m.name, ref, fp);
        this.#log(`setup of ${m.name} started: ${ref.id}`);
      }
      const out = await finishSetup(m.name, ref, fp, {
        logDir: `${o.dir}/setup-logs`,
        timeout: m.setupTimeout ?? o.setupTimeout,
      });
      await this.#store.setupEnded(m.name, out.status !== "failed", fp, out.reason, out.log);
      // Its log is in the pool directory now: nothing of it stays on the machine.
      await attachJobs(ref).forget().catch(() => {});
      this.#log(`setup of ${m.name}: ${out.status}${out.reason ? `: ${out.reason}` : ""}`);
    } finally {
      this.#setups.delete(m.name);
      this.#setupEndedAt.set(m.name, this.#reads);
      this.#dirty = true;
    }
  }

  #root(): { root?: string } {
    return this.#o.jobsRoot ? { root: this.#o.jobsRoot } : {};
  }

  /**
   * Settles a start that may or may not have reached the host, by the name's claim there:
   * the job's reference if it started; `null` if it never will (the name is fenced off now,
   * or its start failed); `undefined` if the dispatcher stopped first. A host that does not
   * answer is asked again until it does: until then the job may run there, so it keeps its
   * slot and does not wait again. Once the name is fenced, a job of that name that made no
   * claim (started without `unique`, by an older dexp) is still looked for.
   */
  async #settle(a: Active, host: Host, name: string): Promise<JobRef | null | undefined> {
    let told = false;
    while (!this.#o.signal?.aborted) {
      try {
        const job = await settleJobName(host, name, { ...this.#root(), signal: this.#o.signal });
        if (job) return job.ref;
        return (await listJobs([host], { name, ...this.#root() })).at(-1)?.job.ref ?? null;
      } catch (e) {
        if (this.#o.signal?.aborted) break;
        if (!told) this.#log(`${a.job.id}: cannot settle its start yet: ${(e as Error).message}`);
        told = true;
        await new Promise((r) => setTimeout(r, Math.max(this.#o.poll ?? 500, 1000)));
      }
    }
    return undefined;
  }

  async #reattach(a: Active, m: DispatchMachine, ref: JobRef | null, name: string): Promise<void> {
    const host = this.#host(m);
    if (ref === null) {
      // The last dispatcher died between recording the attempt and recording the job's
      // reference: the job started if the host has a job of that name, or will if that
      // dispatcher's start is still on its way, unless the name is fenced off first.
      const settled = await this.#settle(a, host, name);
      if (settled === undefined) return; // Stopped: the next dispatcher settles it.
      if (settled === null) {
        this.#log(`${a.job.id}: its start was interrupted before it began; it waits again`);
        await this.#end(a, {
          kind: "infra",
          exitCode: null,
          reason: "the dispatcher stopped before the job started",
        }, true);
        return;
      }
      ref = settled;
      await this.#store.attemptStarted(a.job.id, ref);
    }
    a.handle = new Job(ref, host);
    a.busy = false;
    this.#log(`${a.job.id}: reattached on ${m.name} slot ${a.slot}`);
  }

  async #pollActive(): Promise<void> {
    const watched = [...this.#active.values()].filter((a) => a.handle && !a.busy);
    if (!watched.length) return;
    const st = await new JobGroup(watched.map((a) => a.handle!)).status();
    const now = Date.now();
    watched.forEach((a, i) => {
      const s = st[i];
      if (s.state === "running") {
        const t = a.job.timeout;
        if (t !== null && now - a.start > t && a.stop === null) {
          a.stop = "timeout";
          this.#spawn(`timeout of ${a.job.id}`, () => this.#stop(a));
        }
        return;
      }
      if (s.state === "unknown") return;
      a.busy = true;
      this.#spawn(`end of ${a.job.id}`, () => this.#collect(a, s));
    });
  }

  async #stop(a: Active): Promise<void> {
    // Wait until the job started (or ended on its own, then nothing is left to stop).
    while (this.#active.get(a.job.id) === a && (a.handle === null || a.busy)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.#active.get(a.job.id) !== a) return;
    a.busy = true;
    const st = await a.handle!.kill("SIGTERM", { grace: this.#o.killGrace ?? 2000 });
    await this.#collect(a, st);
  }

  async #collect(a: Active, st: JobStatus): Promise<void> {
    const j = a.job;
    const r = await a.handle!.result({ interval: 200 });
    let outcome: AttemptOutcome;
    if (a.stop === "cancel") {
      outcome = { kind: "canceled", exitCode: r.exitCode, reason: "canceled" };
    } else if (a.stop === "timeout") {
      outcome = {
        kind: "timeout",
        exitCode: null,
        reason: `timed out after ${j.timeout! / 1000} s`,
      };
    } else if (st.state === "lost" || r.failure === "lost") {
      outcome = { kind: "lost", exitCode: null, reason: r.reason ?? "lost" };
    } else if (r.ok) {
      outcome = { kind: "ok", exitCode: 0, reason: null };
    } else if (r.signal) {
      outcome = { kind: "signal", exitCode: null, reason: `killed by ${r.signal}` };
    } else {
      outcome = { kind: "exit", exitCode: r.exitCode, reason: `exit code ${r.exitCode}` };
    }
    const vars = {
      ...j.vars,
      host: this.#hosts.get(a.machine)?.host.name ?? a.machine,
      class: j.class,
      job: j.id,
      slot: a.slot,
    };
    const outputs = j.outputs.map((o) => fillPlaceholders(o, vars));
    const paths = outcome.kind === "ok" ? [...resultsPaths(r.stdout), ...outputs] : [];
    await this.#end(a, outcome, false, paths);
  }

  /** Records the end of an attempt, frees its slot, counts machine faults. */
  async #end(
    a: Active,
    outcome: AttemptOutcome,
    neverStarted: boolean,
    paths: readonly string[] = [],
  ): Promise<void> {
    const j = a.job;
    const infra = INFRA.includes(outcome.kind);
    // Earlier attempts that count, and this one if it counts (the view may or may not have it).
    const used = attemptsUsed(j) + (j.infraCounts || !infra ? 1 : 0);
    const left = used < j.attempts;
    let next: "waiting" | "copying" | "done" | "failed" | "canceled" | "lost";
    switch (outcome.kind) {
      case "ok":
        next = j.results !== null && paths.length ? "copying" : "done";
        break;
      case "canceled":
        next = "canceled";
        break;
      case "lost":
        next = left ? "waiting" : "lost";
        break;
      default:
        next = neverStarted || left ? "waiting" : "failed";
    }
    const recorded = await this.#store.attemptEnded(j.id, outcome, next, paths);
    this.#ended.set(j.id, Math.max(this.#ended.get(j.id) ?? 0, this.#attemptNumber(a)));
    if (recorded) {
      this.#log(
        `${j.id}: ${outcome.kind}${outcome.reason ? ` (${outcome.reason})` : ""} -> ${next}`,
      );
    }
    if (infra && !neverStarted) await this.#fault(a.machine, outcome.reason ?? outcome.kind);
    this.#board.free(a.machine, a.slot);
    this.#active.delete(j.id);
    this.#dirty = true; // A slot is free: look at the queue at once.
  }

  /** The number (from 1) of the attempt an active entry runs. */
  #attemptNumber(a: Active): number {
    const last = a.job.tries.at(-1);
    return a.job.state === "running" && last && last.end === null
      ? a.job.tries.length
      : a.job.tries.length + 1;
  }

  async #fault(machine: string, reason: string): Promise<void> {
    const n = (this.#faults.get(machine) ?? this.#storedFaults.get(machine) ?? 0) + 1;
    this.#faults.set(machine, n);
    const q = n >= (this.#o.quarantineAfter ?? 3);
    await this.#store.machineFault(machine, reason, q);
    if (q) {
      this.#log(`machine ${machine} quarantined after ${n} infrastructure failures: ${reason}`);
    }
  }

  async #copy(j: DispatchJob, m: DispatchMachine): Promise<void> {
    try {
      const c = await copyBack(this.#host(m), {
        resultsDir: j.results!,
        job: j.id,
        paths: j.copyPaths,
      });
      await this.#store.copyEnded(j.id, true, null);
      this.#copyNext.delete(j.id);
      this.#log(`${j.id}: results copied to ${c.dir} (${c.files} files, ${c.bytes} bytes)`);
    } catch (e) {
      const reason = (e as Error).message;
      await this.#store.copyEnded(j.id, false, reason);
      const backoff = Math.min(60_000, 500 * 2 ** Math.min(j.copyFailures, 7));
      this.#copyNext.set(j.id, Date.now() + backoff);
      this.#log(`${j.id}: copy failed (${reason}), retried in ${backoff} ms`);
    } finally {
      this.#copies.delete(j.id);
      this.#copyEndedAt.set(j.id, this.#reads);
      this.#dirty = true;
    }
  }

  async #schedule(view: DispatchView): Promise<void> {
    const ready = view.machines.filter((m) => m.state === "ready");
    const full = new Set<string>();
    for (const j of view.jobs) {
      if (j.state !== "waiting" || this.#active.has(j.id) || full.has(j.class)) continue;
      if (this.#o.signal?.aborted) return;
      const m = ready.find((x) => x.class === j.class && this.#board.freeCount(x.name) > 0);
      if (!m) {
        full.add(j.class); // FIFO per class: nothing behind it starts first.
        continue;
      }
      const slot = this.#board.take(m.name, j.id)!;
      const a: Active = {
        job: j,
        machine: m.name,
        slot,
        start: Date.now(),
        handle: null,
        busy: true,
        stop: null,
      };
      // Recorded one by one, in queue order, before anything starts on the host.
      const name = jobName(view.tag ?? "x", j, j.tries.length + 1);
      if (!(await this.#store.attemptStarting(j.id, m.name, slot, name))) {
        this.#board.free(m.name, slot);
        continue;
      }
      this.#active.set(j.id, a);
      this.#spawn(`start of ${j.id}`, () => this.#start(a, m, name));
    }
  }

  async #start(a: Active, m: DispatchMachine, name: string): Promise<void> {
    const j = a.job;
    const host = this.#host(m);
    let placed;
    try {
      placed = placeOnSlot({
        command: j.command,
        vars: { ...j.vars, host: host.name, class: j.class, job: j.id },
        slot: a.slot,
        prefix: m.prefix,
        env: m.slotEnv,
      });
    } catch (e) {
      await this.#store.attemptEnded(
        j.id,
        {
          kind: "exit",
          exitCode: null,
          reason: (e as Error).message,
        },
        "failed",
        [],
      );
      this.#board.free(m.name, a.slot);
      this.#active.delete(j.id);
      return;
    }
    let ref: JobRef;
    try {
      const group = await detach(
        new Hosts([host]).run(placed.command).env({ ...placed.env, DEXP_POOL_JOB: j.id }).quiet(),
        { name, unique: true, ...this.#root() },
      );
      ref = group.refs[0];
    } catch (e) {
      // A start that failed after ssh reached the host's shell may still run there (its
      // confirmation lost, or the script going on after the connection dropped): the name's
      // claim says. One that never got there (ssh could not connect), or that the host said
      // stopped before running anything, did not run.
      const r = e instanceof GroupError ? e.result.results[0] : undefined;
      const settled = r && (r.failure === "connect" || startRanNothing(r))
        ? null
        : await this.#settle(a, host, name);
      if (settled === undefined) return; // Stopped: the next dispatcher settles it.
      if (!settled) {
        const reason = `could not start on ${m.name}: ${
          r?.reason ?? (e as Error).message.split("\n")[0]
        }`;
        a.busy = false;
        await this.#end(a, { kind: "infra", exitCode: null, reason }, false);
        return;
      }
      this.#log(`${j.id}: its start on ${m.name} was not confirmed, but it runs: taken back`);
      ref = settled;
    }
    await this.#store.attemptStarted(j.id, ref);
    if (this.#faults.get(m.name) || m.faults) {
      this.#faults.set(m.name, 0);
      await this.#store.machineOk(m.name);
    }
    a.handle = new Job(ref, host);
    a.busy = false;
    this.#log(`${j.id}: started on ${m.name} slot ${a.slot} (${ref.id})`);
  }
}
