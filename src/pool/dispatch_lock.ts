/**
 * At most one dispatcher per pool directory. The dispatcher holds an exclusive file lock
 * (`Deno.FsFile.tryLock`) on `DIR/dispatcher.lock` for as long as it runs, and writes who it is
 * (host, pid, start) to `DIR/dispatcher.json` (temp file + rename). The kernel (or the NFS
 * server) drops the lock when the holder dies, even by SIGKILL, so a dead holder's lock is taken
 * over without any guess about whether it lives; a live holder makes a second dispatcher fail
 * with a message that names it.
 *
 * @module
 */

import { processStartTime } from "../sweep/mod.ts";

/** Who holds a pool's dispatcher lock. */
export interface DispatcherHolder {
  /** Host name. */
  readonly host: string;
  /** Process id there. */
  readonly pid: number;
  /** Process start time (clock ticks since boot), -1 if unknown. */
  readonly start: number;
  /** When it took the lock (ISO time). */
  readonly since: string;
  /** What holds it: absent for a dispatcher, `"dexp run"` for a run that uses the slots. */
  readonly role?: string;
}

/**
 * Thrown when another dispatcher (or a `dexp run` of an experiment on the pool) serves the
 * pool directory.
 *
 * @example
 * ```ts ignore
 * import { DispatcherBusyError, openPool } from "@dexp/dexp";
 * await using pool = await openPool("./lab");
 * try {
 *   await pool.serve();
 * } catch (e) {
 *   if (!(e instanceof DispatcherBusyError)) throw e;
 *   console.log(e.message); // which process (host, pid, since when) serves the pool
 * }
 * ```
 */
export class DispatcherBusyError extends Error {
  /** The holder, when it could be read. */
  readonly holder: DispatcherHolder | null;

  /**
   * Makes the error.
   *
   * @param dir The pool directory.
   * @param holder Who holds it.
   */
  constructor(dir: string, holder: DispatcherHolder | null) {
    super(
      holder
        ? `Pool "${dir}" is already served by ${
          holder.role ? `a ${holder.role}` : "a dispatcher"
        }: pid ${holder.pid} on host "${holder.host}", since ${holder.since}; stop it first (kill ${holder.pid})`
        : `Pool "${dir}" is already served by a dispatcher (its holder file is unreadable); stop it first`,
    );
    this.name = "DispatcherBusyError";
    this.holder = holder;
  }
}

/**
 * Writes a file atomically (temp file in the same folder, fsync, rename).
 *
 * @param path The file.
 * @param text Its content.
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o644 });
    try {
      await f.write(new TextEncoder().encode(text));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Reads who holds a pool's dispatcher lock, from its holder file.
 *
 * @param dir The pool directory.
 * @returns The holder, or `null` if none was ever recorded.
 */
export async function readHolder(dir: string): Promise<DispatcherHolder | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/dispatcher.json`)) as DispatcherHolder;
  } catch {
    return null;
  }
}

/** A held dispatcher lock; release it with `await using` or {@linkcode DispatchLock.release}. */
export class DispatchLock implements AsyncDisposable {
  /** The pool directory. */
  readonly dir: string;
  /** This process, as written to the holder file. */
  readonly holder: DispatcherHolder;
  #file: Deno.FsFile | null;

  private constructor(dir: string, file: Deno.FsFile, holder: DispatcherHolder) {
    this.dir = dir;
    this.#file = file;
    this.holder = holder;
  }

  /**
   * Takes the pool's dispatcher lock, or fails at once if a live dispatcher holds it.
   *
   * @param dir The pool directory (must exist).
   * @param role What takes it, when not a dispatcher (e.g. `"dexp run"`), for the message
   *   that another dispatcher gets.
   * @returns The held lock.
   * @throws {DispatcherBusyError} If another dispatcher holds it.
   */
  static async acquire(dir: string, role?: string): Promise<DispatchLock> {
    const file = await Deno.open(`${dir}/dispatcher.lock`, {
      read: true,
      write: true,
      create: true,
    });
    let got = false;
    try {
      got = await file.tryLock(true);
    } catch (e) {
      file.close();
      throw e;
    }
    if (!got) {
      file.close();
      throw new DispatcherBusyError(dir, await readHolder(dir));
    }
    const holder: DispatcherHolder = {
      host: Deno.hostname(),
      pid: Deno.pid,
      start: processStartTime(Deno.pid) ?? -1,
      since: new Date().toISOString(),
      ...(role ? { role } : {}),
    };
    try {
      await writeTextAtomic(`${dir}/dispatcher.json`, JSON.stringify(holder) + "\n");
    } catch (e) {
      file.close();
      throw e;
    }
    return new DispatchLock(dir, file, holder);
  }

  /** Whether the lock is still held by this object. */
  get held(): boolean {
    return this.#file !== null;
  }

  /** Removes the holder file and drops the lock. */
  async release(): Promise<void> {
    const f = this.#file;
    if (f === null) return;
    this.#file = null;
    const now = await readHolder(this.dir);
    if (now && now.pid === this.holder.pid && now.since === this.holder.since) {
      await Deno.remove(`${this.dir}/dispatcher.json`).catch(() => {});
    }
    f.close();
  }

  /** Same as {@linkcode DispatchLock.release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
