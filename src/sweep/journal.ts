/**
 * The files of a sweep directory: an append-only journal, a compacted snapshot, the list of
 * combinations, and a lock file. Every read and write happens while holding a
 * `Deno.FsFile.lock` on `DIR/lock` (exclusive to write, shared to read); writes are fsynced
 * before the lock is released; the snapshot and the journal are replaced by atomic renames.
 *
 * Reading is incremental: a process remembers the journal epoch and the byte offset it has
 * read up to, and only reads what was appended since. A compaction writes a snapshot that
 * covers the journal up to a position, then starts a new journal with the next epoch; a
 * process that finds another epoch in the journal header reloads the snapshot. A torn last
 * line (a writer died mid-write) is skipped, and cut off by the next writer.
 *
 * @module
 */

import {
  COMBOS_MAGIC,
  COMBOS_VERSION,
  decodeRec,
  encodeRec,
  FORMAT_VERSION,
  type JournalHeader,
  journalHeader,
  parseJournalHeader,
  SNAPSHOT_MAGIC,
  type SnapshotMeta,
} from "./_format.ts";
import { FAILED, INPROGRESS, type Rec, SKIPPED, type SweepState, TODO } from "./_state.ts";

/**
 * A sweep directory cannot be read: written by a newer dexp, or damaged beyond what dexp
 * repairs by itself (a torn last journal line is repaired silently and never raises this).
 *
 * @example
 * ```ts
 * import { ParamSweeper, sweep, SweepFormatError } from "@dexp/dexp";
 * import { rejects } from "node:assert";
 * import { join } from "node:path";
 *
 * const dir = await Deno.makeTempDir();
 * await (await ParamSweeper.open(dir, sweep({ n: [1, 2] }))).close();
 * // As if a newer dexp had written the journal: refused, never misread.
 * const journal = join(dir, "journal");
 * const [magic, , ...rest] = (await Deno.readTextFile(journal)).split("\t");
 * await Deno.writeTextFile(journal, [magic, "99", ...rest].join("\t"));
 * await rejects(ParamSweeper.open(dir, sweep({ n: [1, 2] })), SweepFormatError);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SweepFormatError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong and how to fix it.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SweepFormatError";
  }
}

/**
 * The history of a sweep directory is missing or inconsistent (a journal removed, files from
 * different times): refused, never started over silently. `dexp sweep reset DIR --all` (or
 * {@linkcode JournalStore.startOver}) starts over.
 */
export class SweepHistoryError extends SweepFormatError {
  /**
   * Makes the error.
   *
   * @param dir The sweep directory.
   * @param what What is wrong, naming the file.
   * @param restore How to restore it, if there is a way.
   */
  constructor(dir: string, what: string, restore: string) {
    super(
      `The sweep in '${dir}' ${what}: ${restore}, or start the sweep over with 'dexp sweep reset ${dir} --all' (or remove the directory)`,
    );
    this.name = "SweepHistoryError";
  }
}

/**
 * Something could not be written to a sweep directory (disk full, read-only file system, no
 * permission). Nothing of the operation that failed was recorded: the claims and the state
 * are as before it, and the same operation can be tried again once the cause is fixed.
 *
 * @example
 * ```ts ignore
 * import { ParamSweeper, sweep, SweepWriteError } from "@dexp/dexp";
 * await using sweeper = await ParamSweeper.open("/mnt/full-disk/sweep", sweep({ n: [1, 2] }));
 * try {
 *   await sweeper.claim();
 * } catch (e) {
 *   if (!(e instanceof SweepWriteError)) throw e;
 *   console.log(e.code); // "ENOSPC": nothing was recorded; free space and claim again
 * }
 * ```
 */
export class SweepWriteError extends Error {
  /** The error code of the system, e.g. `"ENOSPC"` or `"EROFS"`, if known. */
  readonly code: string | undefined;
  /**
   * Makes the error.
   *
   * @param dir The sweep directory.
   * @param file The file that could not be written.
   * @param cause The error of the system.
   */
  constructor(dir: string, file: string, cause: unknown) {
    const code = (cause as { code?: string })?.code;
    const why = cause instanceof Error ? cause.message : String(cause);
    const fix = code === "EROFS"
      ? "the file system is read-only: remount it read-write, or copy the directory to a writable place"
      : code === "ENOSPC" || code === "EDQUOT"
      ? "free some space and try again"
      : cause instanceof Deno.errors.PermissionDenied || code === "EACCES" || code === "EPERM"
      ? "give this user write permission on the directory"
      : "fix the cause and try again";
    super(
      `Could not write '${file}' of the sweep in '${dir}': ${why}: nothing was recorded; ${fix}`,
      { cause },
    );
    this.name = "SweepWriteError";
    this.code = code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function writeAll(f: Deno.FsFile, data: Uint8Array): void {
  let n = 0;
  while (n < data.length) n += f.writeSync(data.subarray(n));
}

function readAt(f: Deno.FsFile, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  f.seekSync(offset, Deno.SeekMode.Start);
  let n = 0;
  while (n < length) {
    const r = f.readSync(buf.subarray(n));
    if (r === null || r === 0) break;
    n += r;
  }
  return n === length ? buf : buf.subarray(0, n);
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Whether opening a file to write failed because writing is not possible at all here. */
function cannotWrite(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return e instanceof Deno.errors.PermissionDenied || code === "EROFS" || code === "EACCES" ||
    code === "EPERM";
}

/** Writes chunks of text to a file, encoding about a megabyte at a time. */
class ChunkWriter {
  #parts: string[] = [];
  #size = 0;
  bytes = 0;
  constructor(readonly file: Deno.FsFile) {}
  add(s: string): void {
    this.#parts.push(s);
    this.#size += s.length;
    if (this.#size > 1 << 20) this.flush();
  }
  flush(): void {
    if (this.#parts.length === 0) return;
    const data = encoder.encode(this.#parts.join(""));
    writeAll(this.file, data);
    this.bytes += data.length;
    this.#parts = [];
    this.#size = 0;
  }
}

/** Options of {@linkcode JournalStore.open}. */
export interface JournalStoreOptions {
  /** Create the directory and the journal if missing (default true). */
  create?: boolean;
  /** Compact when the journal holds more than this many bytes and more than the snapshot. */
  compactBytes?: number;
  /** Wait for the lock in the calling thread (see `ParamSweeperOptions.blockingLock`). */
  blockingLock?: boolean;
}

// One queue per sweep directory in this process: stores of the same directory take turns here
// before taking the file lock, so two sweepers of one process never wait for each other's
// file lock (which, with a blocking wait, would freeze the thread that must release it).
const queues = new Map<string, Promise<unknown>>();

/** Options of {@linkcode JournalStore.transact}. */
export interface TransactOptions {
  /** The records may need format 2: upgrade a format-1 journal first. */
  format2?: boolean;
  /** Called once the records reached the disk, still under the lock. */
  commit?: () => void;
}

/** Gives one record to the state; if the rule accepts it, it will be appended. */
export type Emit = (r: Rec) => boolean;

/** The files of one sweep directory, as seen by one process. Internal to the sweep layer. */
export class JournalStore {
  /** The sweep directory. */
  readonly dir: string;
  /** Compaction threshold in bytes. */
  compactBytes: number;
  /** Number of compactions this store performed (for tests and benchmarks). */
  compactions = 0;
  /** Wait for the lock in the calling thread instead of a helper thread. */
  blockingLock = false;
  #lockFile: Deno.FsFile | null;
  /** Why this store cannot write (the lock file could only be opened to read), if so. */
  #readOnly: unknown;
  #queueKey: string;
  #pending: Promise<unknown> = Promise.resolve();
  #epoch = -1;
  #created = 0;
  #offset = 0;
  #headerLen = 0;
  /** The format of the journal read last (1 or 2); compactions keep it. */
  #version = 1;
  #snapshotBytes = 0;
  #jf: Deno.FsFile | null = null;
  #closed = false;

  private constructor(
    dir: string,
    lockFile: Deno.FsFile | null,
    readOnly: unknown,
    compactBytes: number,
  ) {
    this.dir = dir;
    this.#lockFile = lockFile;
    this.#readOnly = readOnly;
    this.compactBytes = compactBytes;
    let key = dir;
    try {
      key = Deno.realPathSync(dir);
    } catch {
      // Keep the path as given.
    }
    this.#queueKey = key;
  }

  /**
   * Opens a sweep directory (creating it if asked).
   *
   * @param dir The directory.
   * @param options See {@linkcode JournalStoreOptions}.
   * @returns The store.
   * Without `create`, a directory where this process cannot write (read-only file system, no
   * permission) opens for reading: writing transactions then fail with a
   * {@linkcode SweepWriteError}; if it has no lock file, reads take no lock.
   *
   * @throws {Deno.errors.NotFound} If `create` is false and there is no sweep in `dir`.
   * @throws {SweepWriteError} If `create` is true and the directory cannot be written.
   */
  static async open(dir: string, options: JournalStoreOptions = {}): Promise<JournalStore> {
    const create = options.create ?? true;
    if (create) {
      try {
        await Deno.mkdir(dir, { recursive: true });
      } catch (e) {
        throw new SweepWriteError(dir, dir, e);
      }
    } else {
      const found = await Promise.all(
        ["journal", "snapshot", "combos"].map((f) =>
          Deno.stat(`${dir}/${f}`).then(() => true, () => false)
        ),
      );
      if (!found.some((x) => x)) {
        throw new Deno.errors.NotFound(
          `No sweep in '${dir}': expected a 'journal' file written by ParamSweeper.open()`,
        );
      }
    }
    let lock: Deno.FsFile | null = null;
    let readOnly: unknown = undefined;
    try {
      lock = await Deno.open(`${dir}/lock`, { read: true, write: true, create: true });
    } catch (e) {
      if (create || !cannotWrite(e)) {
        throw cannotWrite(e) ? new SweepWriteError(dir, `${dir}/lock`, e) : e;
      }
      readOnly = e;
      try {
        lock = await Deno.open(`${dir}/lock`, { read: true });
      } catch (e2) {
        // Nobody can have written here since the lock file would exist: read without a lock.
        if (!isNotFound(e2)) throw e2;
      }
    }
    const store = new JournalStore(dir, lock, readOnly, options.compactBytes ?? 1 << 20);
    store.blockingLock = options.blockingLock ?? false;
    return store;
  }

  /**
   * Runs `fn` under the lock, after bringing `state` up to date with the journal; appends and
   * fsyncs the records it emitted and the rule accepted; compacts when the journal is large.
   * Calls on one store run one at a time, in call order.
   */
  transact<T>(
    state: SweepState,
    exclusive: boolean,
    fn: (emit: Emit) => T,
    options: TransactOptions = {},
  ): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.#closed) throw new Error(`The sweep in '${this.dir}' is closed: open it again`);
      if (exclusive && this.#readOnly !== undefined) {
        throw new SweepWriteError(this.dir, `${this.dir}/lock`, this.#readOnly);
      }
      const lock = this.#lockFile;
      if (lock && this.blockingLock) lock.lockSync(exclusive);
      else if (lock) await lock.lock(exclusive);
      try {
        const lines: string[] = [];
        let result: T;
        try {
          this.#begin(state, exclusive);
          if (exclusive && options.format2 && this.#version < 2) this.#upgrade(state);
          result = fn((r) => {
            if (!exclusive) throw new Error("Internal error: write in a shared transaction");
            if (!state.apply(r)) return false;
            lines.push(encodeRec(r));
            return true;
          });
          if (lines.length > 0) this.#append(lines);
          options.commit?.();
        } catch (e) {
          this.#epoch = -1; // memory may be ahead of the files: reload next time
          throw e;
        }
        if (
          exclusive &&
          this.#offset - this.#headerLen > Math.max(this.compactBytes, this.#snapshotBytes)
        ) {
          try {
            this.#compact(state);
          } catch {
            // The journal is intact whatever step failed; reload to be sure of our position.
            this.#epoch = -1;
          }
        }
        return result;
      } finally {
        this.#jf?.close();
        this.#jf = null;
        lock?.unlockSync();
      }
    };
    const key = this.#queueKey;
    const p = (queues.get(key) ?? Promise.resolve()).then(run, run);
    const tail = p.then(() => {}, () => {});
    queues.set(key, tail);
    this.#pending = tail;
    tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return p;
  }

  /** Waits for pending transactions, then closes the lock file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#pending;
    this.#closed = true;
    this.#lockFile?.close();
  }

  #path(name: string): string {
    return `${this.dir}/${name}`;
  }

  #syncDir(): void {
    try {
      const d = Deno.openSync(this.dir, { read: true });
      try {
        d.syncSync();
      } finally {
        d.close();
      }
    } catch {
      // Not possible on every platform or file system; the renames are still atomic.
    }
  }

  /** Writes `name` atomically: `name.tmp`, fsync, rename, fsync the directory. */
  #replace(name: string, write: (w: ChunkWriter) => void): number {
    const tmp = this.#path(name + ".tmp");
    let bytes = 0;
    try {
      const f = Deno.openSync(tmp, { write: true, create: true, truncate: true });
      try {
        const w = new ChunkWriter(f);
        write(w);
        w.flush();
        f.syncSync();
        bytes = w.bytes;
      } finally {
        f.close();
      }
      Deno.renameSync(tmp, this.#path(name));
    } catch (e) {
      try {
        Deno.removeSync(tmp); // give back the space a half-written file holds
      } catch {
        // It may not exist.
      }
      throw new SweepWriteError(this.dir, this.#path(name), e);
    }
    this.#syncDir();
    return bytes;
  }

  #readHeader(f: Deno.FsFile): JournalHeader {
    const head = decoder.decode(readAt(f, 0, 128));
    const nl = head.indexOf("\n");
    const header = nl < 0 ? undefined : parseJournalHeader(head.slice(0, nl));
    if (!header) {
      throw new SweepHistoryError(
        this.dir,
        `has a journal '${
          this.#path("journal")
        }' with no valid header (not written by dexp, or damaged)`,
        "restore it from a backup",
      );
    }
    if (header.version > FORMAT_VERSION) {
      throw new SweepFormatError(
        `The sweep in '${this.dir}' was written in format ${header.version} by a newer dexp; this one reads up to format ${FORMAT_VERSION}: upgrade dexp`,
      );
    }
    return header;
  }

  #begin(state: SweepState, exclusive: boolean): void {
    let jf: Deno.FsFile;
    try {
      jf = Deno.openSync(this.#path("journal"), { read: true, write: exclusive });
    } catch (e) {
      if (!isNotFound(e)) {
        throw cannotWrite(e) ? new SweepWriteError(this.dir, this.#path("journal"), e) : e;
      }
      // The journal is created first and only ever replaced by a rename: if it is missing
      // beside other files of the sweep, its history was lost. Never start over silently.
      const others = ["snapshot", "combos"].filter((f) => existsSync(this.#path(f)));
      if (others.length > 0) {
        throw new SweepHistoryError(
          this.dir,
          `has lost its history: '${this.#path("journal")}' is missing beside ${
            others.map((f) => `'${f}'`).join(" and ")
          }, so what it recorded would be lost and run again`,
          "restore the journal from a backup",
        );
      }
      if (!exclusive) {
        state.clear();
        this.#epoch = -1;
        return;
      }
      this.#replace("journal", (w) => w.add(journalHeader(1, Date.now())));
      jf = Deno.openSync(this.#path("journal"), { read: true, write: true });
    }
    this.#jf = jf;
    const header = this.#readHeader(jf);
    this.#version = header.version;
    const size = jf.statSync().size;
    // A journal started over (dexp sweep reset --all on a lost history) may reuse an epoch
    // number: its creation time differs.
    if (header.epoch !== this.#epoch || header.created !== this.#created || size < this.#offset) {
      this.#reload(state, header);
    }
    this.#readFrom(state, exclusive, size);
  }

  #reload(state: SweepState, header: JournalHeader): void {
    state.clear();
    state.created = header.created;
    const meta = this.#readSnapshot(state);
    let start: number;
    if (!meta) {
      if (header.epoch !== 1) {
        throw new SweepHistoryError(
          this.dir,
          `has a journal of epoch ${header.epoch} but no snapshot: '${
            this.#path("snapshot")
          }' was removed`,
          "restore it from a backup",
        );
      }
      start = header.length;
    } else if (meta.covers.epoch === header.epoch) {
      start = meta.covers.offset; // a compaction stopped between its two renames
    } else if (meta.covers.epoch + 1 === header.epoch) {
      start = header.length;
    } else {
      throw new SweepHistoryError(
        this.dir,
        `has a snapshot '${
          this.#path("snapshot")
        }' of journal epoch ${meta.covers.epoch} and a journal '${
          this.#path("journal")
        }' of epoch ${header.epoch}: files from different times were mixed`,
        "restore them together from one backup",
      );
    }
    this.#epoch = header.epoch;
    this.#created = header.created;
    this.#headerLen = header.length;
    this.#offset = start;
  }

  #readFrom(state: SweepState, exclusive: boolean, size: number): void {
    const jf = this.#jf!;
    const len = size - this.#offset;
    if (len <= 0) return;
    const buf = readAt(jf, this.#offset, len);
    const last = buf.lastIndexOf(10);
    if (last >= 0) {
      const text = decoder.decode(buf.subarray(0, last + 1));
      let pos = 0;
      while (pos < text.length) {
        const nl = text.indexOf("\n", pos);
        const r = decodeRec(text.slice(pos, nl));
        if (r) state.apply(r);
        else state.badLines++;
        pos = nl + 1;
      }
      this.#offset += last + 1;
    }
    if (last + 1 < buf.length && exclusive) {
      // A torn last line: its writer died before finishing it (writers fsync before unlock),
      // so nobody acted on it. Cut it off so the next record starts on a line of its own.
      try {
        jf.truncateSync(this.#offset);
        jf.syncDataSync();
      } catch (e) {
        throw new SweepWriteError(this.dir, this.#path("journal"), e);
      }
    }
  }

  /**
   * Appends whole lines and fsyncs them. If that fails (disk full), cuts the journal back to
   * where it was, so that nothing of the failed write counts and the next append starts on a
   * line of its own.
   */
  #append(lines: string[]): void {
    const jf = this.#jf!;
    const data = encoder.encode(lines.join(""));
    try {
      jf.seekSync(this.#offset, Deno.SeekMode.Start);
      writeAll(jf, data);
      jf.syncDataSync();
    } catch (e) {
      try {
        jf.truncateSync(this.#offset);
        jf.syncDataSync();
      } catch {
        // The next writer cuts a torn last line; the reload sees what reached the disk.
      }
      throw new SweepWriteError(this.dir, this.#path("journal"), e);
    }
    this.#offset += data.length;
  }

  /**
   * Compacts a format-1 journal into format 2 before the first record format 1 cannot hold,
   * so an older dexp refuses the directory instead of misreading it.
   */
  #upgrade(state: SweepState): void {
    const old = this.#version;
    this.#version = FORMAT_VERSION;
    try {
      this.#compact(state);
    } catch (e) {
      this.#version = old;
      throw e;
    }
    this.#jf?.close();
    this.#jf = Deno.openSync(this.#path("journal"), { read: true, write: true });
  }

  #readSnapshot(state: SweepState): SnapshotMeta | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path("snapshot"));
    } catch (e) {
      if (isNotFound(e)) {
        this.#snapshotBytes = 0;
        return undefined;
      }
      throw e;
    }
    this.#snapshotBytes = text.length;
    const damaged = (why: string) =>
      new SweepHistoryError(
        this.dir,
        `has a damaged snapshot '${this.#path("snapshot")}' (${why})`,
        "restore it from a backup",
      );
    let nl = text.indexOf("\n");
    const head = text.slice(0, nl).split("\t");
    if (head[0] !== SNAPSHOT_MAGIC) throw damaged("no header");
    if (Number(head[1]) > FORMAT_VERSION) {
      throw new SweepFormatError(
        `The sweep in '${this.dir}' was written in format ${
          head[1]
        } by a newer dexp; this one reads up to format ${FORMAT_VERSION}: upgrade dexp`,
      );
    }
    const meta = JSON.parse(head.slice(2).join("\t")) as SnapshotMeta;
    let pos = nl + 1;
    let entries = 0;
    let ended = false;
    while (pos < text.length) {
      nl = text.indexOf("\n", pos);
      if (nl < 0) throw damaged("torn last line");
      const line = text.slice(pos, nl);
      pos = nl + 1;
      const kind = line.charCodeAt(0);
      if (kind === 69 /* E */) {
        // E state token owner at reason id; the id is the rest of the line.
        let a = 2;
        let b = line.indexOf("\t", a);
        const s = Number(line.slice(a, b));
        a = b + 1;
        b = line.indexOf("\t", a);
        const t = Number(line.slice(a, b));
        a = b + 1;
        b = line.indexOf("\t", a);
        const owner = line.slice(a, b);
        a = b + 1;
        b = line.indexOf("\t", a);
        const at = Number(line.slice(a, b));
        a = b + 1;
        b = line.indexOf("\t", a);
        const reason = line.slice(a, b);
        const i = state.indexOf(line.slice(b + 1));
        if (!(s >= 0 && s <= FAILED)) throw damaged(`unknown state ${s}`);
        state.load(
          i,
          s,
          t,
          s === INPROGRESS ? { owner, at } : null,
          (s === SKIPPED || s === FAILED) && reason !== "-" ? String(JSON.parse(reason)) : null,
        );
        entries++;
      } else if (kind === 79 /* O */) {
        const f = line.split("\t");
        state.owner(f[1]).lease = Number(f[2]);
      } else if (line.startsWith("end\t")) {
        if (Number(line.slice(4)) !== entries) throw damaged("wrong number of entries");
        ended = true;
      }
    }
    if (!ended) throw damaged("no end line");
    state.nextToken = Math.max(state.nextToken, meta.nextToken);
    state.created = meta.created || state.created;
    state.badLines += meta.badLines ?? 0;
    for (const t of meta.doneTimes ?? []) state.pushDoneTime(t);
    return meta;
  }

  /**
   * Starts a sweep directory over whose history is missing or inconsistent (what
   * `dexp sweep reset DIR --all` does when the directory cannot be read): writes an empty
   * snapshot and a journal of a new epoch, so that every process reloads. Claim tokens go on
   * above any used before, so a worker still holding an old claim cannot complete a new one.
   */
  async startOver(state: SweepState): Promise<void> {
    if (this.#readOnly !== undefined) {
      throw new SweepWriteError(this.dir, `${this.dir}/lock`, this.#readOnly);
    }
    const lock = this.#lockFile!;
    await lock.lock(true);
    try {
      let epoch = 0;
      let offset = 0;
      let token = 0;
      try {
        const f = Deno.openSync(this.#path("journal"), { read: true });
        try {
          const h = parseJournalHeader(decoder.decode(readAt(f, 0, 128)).split("\n")[0]);
          if (h) {
            epoch = h.epoch;
            offset = f.statSync().size;
          }
        } finally {
          f.close();
        }
      } catch {
        // Missing or unreadable: start above what the snapshot says.
      }
      try {
        const head = Deno.readTextFileSync(this.#path("snapshot")).split("\n", 1)[0].split("\t");
        const meta = JSON.parse(head.slice(2).join("\t")) as SnapshotMeta;
        if (meta.covers.epoch > epoch) {
          epoch = meta.covers.epoch;
          offset = 0;
        }
        token = meta.nextToken;
      } catch {
        // Missing or damaged.
      }
      const created = Date.now();
      const meta: SnapshotMeta = {
        covers: { epoch, offset },
        // The journal that held the last tokens may be lost: the clock is above any count.
        nextToken: Math.max(token, created),
        created,
        doneTimes: [],
        badLines: 0,
      };
      this.#replace("snapshot", (w) => {
        w.add(`${SNAPSHOT_MAGIC}\t1\t${JSON.stringify(meta)}\n`);
        w.add(`end\t0\n`);
      });
      this.#replace("journal", (w) => w.add(journalHeader(epoch + 1, created)));
      state.clear();
      this.#epoch = -1;
    } finally {
      lock.unlockSync();
    }
  }

  #compact(state: SweepState): void {
    const meta: SnapshotMeta = {
      covers: { epoch: this.#epoch, offset: this.#offset },
      nextToken: state.nextToken,
      created: state.created,
      doneTimes: state.orderedDoneTimes(),
      badLines: state.badLines,
    };
    const ids = state.index.ids;
    const n = ids.length;
    const { st, tok } = state;
    this.#snapshotBytes = this.#replace("snapshot", (w) => {
      w.add(`${SNAPSHOT_MAGIC}\t${this.#version}\t${JSON.stringify(meta)}\n`);
      let entries = 0;
      for (let i = 0; i < n; i++) {
        const s = st[i];
        if (s === TODO && tok[i] === 0) continue;
        const claim = s === INPROGRESS ? state.claims.get(i) : undefined;
        const reason = s === SKIPPED || s === FAILED ? state.reasons.get(i) : undefined;
        w.add(
          `E\t${s}\t${tok[i]}\t${claim?.owner ?? "-"}\t${claim?.at ?? 0}\t${
            reason === undefined ? "-" : JSON.stringify(reason)
          }\t${ids[i]}\n`,
        );
        entries++;
      }
      for (const [key, o] of state.owners) {
        if (o.claims.size > 0) w.add(`O\t${key}\t${o.lease}\n`);
      }
      w.add(`end\t${entries}\n`);
    });
    const header = journalHeader(this.#epoch + 1, state.created, this.#version);
    this.#replace("journal", (w) => w.add(header));
    this.#epoch++;
    this.#created = state.created;
    this.#headerLen = encoder.encode(header).length;
    this.#offset = this.#headerLen;
    this.compactions++;
  }

  /**
   * Rewrites the combinations file if the set differs from the one recorded (exclusive
   * transactions only). Status and reset read it to know the whole set.
   */
  writeCombos(ids: readonly string[], count: number, setHash: string): boolean {
    const want = `${COMBOS_MAGIC}\t${COMBOS_VERSION}\t${count}\t${setHash}`;
    try {
      const f = Deno.openSync(this.#path("combos"), { read: true });
      try {
        const head = decoder.decode(readAt(f, 0, want.length + 1));
        if (head === want + "\n") return false;
      } finally {
        f.close();
      }
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.#replace("combos", (w) => {
      w.add(want + "\n");
      for (let i = 0; i < count; i++) w.add(ids[i] + "\n");
    });
    return true;
  }

  /**
   * Reads the combinations file of a sweep directory.
   *
   * @param dir The sweep directory.
   * @returns The identities, or undefined if the file does not exist.
   */
  static readCombos(dir: string): string[] | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${dir}/combos`);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const lines = text.split("\n");
    const head = lines[0].split("\t");
    if (head[0] !== COMBOS_MAGIC) {
      throw new SweepFormatError(
        `The combinations file of the sweep in '${dir}' is damaged: open the sweep with ParamSweeper.open() to rewrite it`,
      );
    }
    if (Number(head[1]) > COMBOS_VERSION) {
      throw new SweepFormatError(
        `The combinations file of the sweep in '${dir}' was written in format ${
          head[1]
        } by a newer dexp; this one reads up to format ${COMBOS_VERSION}: upgrade dexp`,
      );
    }
    const count = Number(head[2]);
    return lines.slice(1, 1 + count);
  }
}
