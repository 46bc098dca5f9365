// The files of a pool directory and how they are read and written.
//
//   pool.json  {"format":"dexp-pool","version":1,"created":ms}, written once by initPool
//   lock       locked exclusively to write, shared to read (Deno.FsFile.lock: flock)
//   journal    "dexp-pool-journal\t<version>\t<epoch>\t<created>\n", then one transaction per
//              line: {"s":seq,"at":ms,"ops":[...]} (see _state.ts). Appended and fsynced under
//              the lock; a torn last line (its writer died) is skipped and cut by the next writer.
//   snapshot   "dexp-pool-snapshot\t<version>\t<meta JSON>\n", then a JSON line each for the
//              classes, the machines and the jobs, then "end\n". meta.covers = {epoch, offset}:
//              the journal position it includes. Replaced by an atomic rename, then the journal
//              is replaced by one of the next epoch (a crash between the two renames is seen by
//              the epochs and handled).
//
// A process remembers the epoch and byte offset it has read to and reads only what was
// appended since: the cost of an operation does not grow with the size of the queue.

import { PoolFormatError, PoolWriteError } from "./errors.ts";
import type { Attempt, Machine, PoolClass, PoolJob } from "./types.ts";
import { type JobSpec, type Op, PoolState, type Tx } from "./_state.ts";

/** The format this dexp writes and reads up to. */
export const POOL_FORMAT_VERSION = 1;
const FORMAT_NAME = "dexp-pool";
const JOURNAL_MAGIC = "dexp-pool-journal";
const SNAPSHOT_MAGIC = "dexp-pool-snapshot";

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

function syncDir(dir: string): void {
  try {
    const d = Deno.openSync(dir, { read: true });
    try {
      d.syncSync();
    } finally {
      d.close();
    }
  } catch {
    // Not possible everywhere; the renames are still atomic.
  }
}

/** Writes `path` atomically: a temp file beside it, fsync, rename, fsync the directory. */
export function replaceFile(dir: string, name: string, parts: Iterable<string>): number {
  const tmp = `${dir}/${name}.tmp.${Deno.pid}`;
  let bytes = 0;
  try {
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    try {
      for (const p of parts) {
        const data = encoder.encode(p);
        writeAll(f, data);
        bytes += data.length;
      }
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, `${dir}/${name}`);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // It may not exist.
    }
    throw new PoolWriteError(dir, `${dir}/${name}`, e);
  }
  syncDir(dir);
  return bytes;
}

function journalHeader(epoch: number, created: number): string {
  return `${JOURNAL_MAGIC}\t${POOL_FORMAT_VERSION}\t${epoch}\t${created}\n`;
}

interface Header {
  version: number;
  epoch: number;
  created: number;
  length: number;
}

function parseHeader(line: string): Header | undefined {
  const f = line.split("\t");
  if (f[0] !== JOURNAL_MAGIC || f.length < 4) return undefined;
  const [version, epoch, created] = [Number(f[1]), Number(f[2]), Number(f[3])];
  if (![version, epoch, created].every(Number.isFinite)) return undefined;
  return { version, epoch, created, length: line.length + 1 };
}

function newer(dir: string, version: unknown): PoolFormatError {
  return new PoolFormatError(
    `The pool in '${dir}' was written in format ${version} by a newer dexp; this one reads up to format ${POOL_FORMAT_VERSION}: upgrade dexp`,
  );
}

/**
 * Checks the format file of a pool directory.
 *
 * @returns The creation time.
 * @throws {Deno.errors.NotFound} If there is no pool in `dir`.
 * @throws {PoolFormatError} If it is not a pool or of a newer format.
 */
export function checkFormatFile(dir: string): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${dir}/pool.json`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `No pool in '${dir}': create one with 'dexp pool init ${dir}' (or initPool())`,
      );
    }
    throw e;
  }
  let meta: { format?: unknown; version?: unknown; created?: unknown };
  try {
    meta = JSON.parse(text);
  } catch {
    meta = {};
  }
  if (meta.format !== FORMAT_NAME || typeof meta.version !== "number") {
    throw new PoolFormatError(
      `'${dir}/pool.json' is not the format file of a dexp pool: give the directory made by 'dexp pool init'`,
    );
  }
  if (meta.version > POOL_FORMAT_VERSION) throw newer(dir, meta.version);
  return typeof meta.created === "number" ? meta.created : 0;
}

/**
 * Creates the files of a new pool directory (the directory may exist, empty or not).
 *
 * @throws {PoolStateError} If there is a pool already.
 */
export function createPoolFiles(dir: string, ops: Op[]): void {
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new PoolWriteError(dir, dir, e);
  }
  const created = Date.now();
  // The journal first, with its first transaction: a pool.json without a journal never exists.
  const tx: Tx = { s: 1, at: created, ops };
  replaceFile(dir, "journal", [journalHeader(1, created), JSON.stringify(tx) + "\n"]);
  try {
    Deno.openSync(`${dir}/lock`, { write: true, create: true }).close();
  } catch (e) {
    throw new PoolWriteError(dir, `${dir}/lock`, e);
  }
  replaceFile(dir, "pool.json", [
    JSON.stringify({ format: FORMAT_NAME, version: POOL_FORMAT_VERSION, created }) + "\n",
  ]);
}

// One queue per pool directory in this process: handles of one directory take turns here
// before taking the file lock (two handles of one process would otherwise wait on each other).
const queues = new Map<string, Promise<unknown>>();

/** Options of {@linkcode PoolJournal}. */
export interface JournalOptions {
  /** Compact when the journal holds more than this many bytes and more than the snapshot. */
  compactBytes?: number;
}

/** The files of one pool directory as seen by one process. */
export class PoolJournal {
  readonly dir: string;
  readonly state: PoolState = new PoolState();
  compactBytes: number;
  compactions = 0;
  #lock: Deno.FsFile | null;
  #readOnly: unknown;
  #key: string;
  #pending: Promise<unknown> = Promise.resolve();
  #epoch = -1;
  #created = -1;
  #offset = 0;
  #headerLen = 0;
  #snapshotBytes = 0;
  #jf: Deno.FsFile | null = null;
  #closed = false;

  private constructor(
    dir: string,
    lock: Deno.FsFile | null,
    readOnly: unknown,
    opts: JournalOptions,
  ) {
    this.dir = dir;
    this.#lock = lock;
    this.#readOnly = readOnly;
    this.compactBytes = opts.compactBytes ?? 4 << 20;
    let key = dir;
    try {
      key = Deno.realPathSync(dir);
    } catch {
      // Keep the path as given.
    }
    this.#key = key;
  }

  static open(dir: string, opts: JournalOptions = {}): PoolJournal {
    const created = checkFormatFile(dir);
    let lock: Deno.FsFile | null = null;
    let readOnly: unknown = undefined;
    try {
      lock = Deno.openSync(`${dir}/lock`, { read: true, write: true, create: true });
    } catch (e) {
      readOnly = e;
      try {
        lock = Deno.openSync(`${dir}/lock`, { read: true });
      } catch {
        lock = null;
      }
    }
    const j = new PoolJournal(dir, lock, readOnly, opts);
    j.state.created = created;
    return j;
  }

  /** The position read up to: changes whenever anything was recorded. */
  get cursor(): { epoch: number; offset: number; seq: number } {
    return { epoch: this.#epoch, offset: this.#offset, seq: this.state.seq };
  }

  /**
   * Runs `fn` under the lock with the state brought up to date; if it returns operations
   * (exclusive only), appends them as one transaction, fsyncs and applies them.
   */
  transact<T>(exclusive: boolean, fn: (s: PoolState) => { ops: Op[]; value: T }): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.#closed) throw new Error(`The pool in '${this.dir}' is closed: open it again`);
      if (exclusive && this.#readOnly !== undefined) {
        throw new PoolWriteError(this.dir, `${this.dir}/lock`, this.#readOnly);
      }
      const lock = this.#lock;
      if (lock) await lock.lock(exclusive);
      try {
        try {
          this.#begin(exclusive);
        } catch (e) {
          this.#epoch = -1; // memory may be ahead of the files: reload next time
          throw e;
        }
        // fn only reads the state and says what to record: if it throws, nothing changed.
        const out = fn(this.state);
        if (out.ops.length > 0) {
          if (!exclusive) throw new Error("Internal error: write in a shared transaction");
          const tx: Tx = { s: this.state.seq + 1, at: Date.now(), ops: out.ops };
          this.#append(JSON.stringify(tx) + "\n"); // cuts itself back if it fails
          this.state.applyTx(tx);
        }
        // Compact when the journal outgrows half the snapshot (and the threshold): a reader
        // then reads at most 1.5 times the state, and compactions stay amortised.
        if (
          exclusive &&
          this.#offset - this.#headerLen > Math.max(this.compactBytes, this.#snapshotBytes / 2)
        ) {
          try {
            this.#compact();
          } catch {
            this.#epoch = -1;
          }
        }
        return out.value;
      } finally {
        this.#jf?.close();
        this.#jf = null;
        lock?.unlockSync();
      }
    };
    const key = this.#key;
    const p = (queues.get(key) ?? Promise.resolve()).then(run, run);
    const tail = p.then(() => {}, () => {});
    queues.set(key, tail);
    this.#pending = tail;
    tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return p;
  }

  /** Whether the journal changed since it was read last (no lock: a hint for polling). */
  changedSince(): boolean {
    try {
      const f = Deno.openSync(`${this.dir}/journal`, { read: true });
      try {
        const h = parseHeader(decoder.decode(readAt(f, 0, 128)).split("\n", 1)[0]);
        return !h || h.epoch !== this.#epoch || f.statSync().size !== this.#offset;
      } finally {
        f.close();
      }
    } catch {
      return true;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#pending;
    this.#closed = true;
    this.#lock?.close();
  }

  #path(name: string): string {
    return `${this.dir}/${name}`;
  }

  #begin(exclusive: boolean): void {
    let jf: Deno.FsFile;
    try {
      jf = Deno.openSync(this.#path("journal"), { read: true, write: exclusive });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new PoolFormatError(
          `The pool in '${this.dir}' has lost its journal '${
            this.#path("journal")
          }': restore it from a backup, or make a new pool with 'dexp pool init'`,
        );
      }
      throw exclusive ? new PoolWriteError(this.dir, this.#path("journal"), e) : e;
    }
    this.#jf = jf;
    const h = parseHeader(decoder.decode(readAt(jf, 0, 128)).split("\n", 1)[0]);
    if (!h) {
      throw new PoolFormatError(
        `The pool in '${this.dir}' has a journal with no valid header (not written by dexp, or damaged): restore it from a backup`,
      );
    }
    if (h.version > POOL_FORMAT_VERSION) throw newer(this.dir, h.version);
    const size = jf.statSync().size;
    if (h.epoch !== this.#epoch || h.created !== this.#created || size < this.#offset) {
      this.#reload(h);
    }
    this.#readFrom(exclusive, size);
  }

  #reload(h: Header): void {
    const created = this.state.created;
    this.state.clear();
    this.state.created = created;
    const covers = this.#readSnapshot();
    let start: number;
    if (!covers) {
      if (h.epoch !== 1) {
        throw new PoolFormatError(
          `The pool in '${this.dir}' has a journal of epoch ${h.epoch} but no snapshot: '${
            this.#path("snapshot")
          }' was removed: restore it from a backup`,
        );
      }
      start = h.length;
    } else if (covers.epoch === h.epoch) {
      start = covers.offset; // a compaction stopped between its two renames
    } else if (covers.epoch + 1 === h.epoch) {
      start = h.length;
    } else {
      throw new PoolFormatError(
        `The pool in '${this.dir}' has a snapshot of journal epoch ${covers.epoch} and a journal of epoch ${h.epoch}: files from different times were mixed: restore them together from one backup`,
      );
    }
    this.#epoch = h.epoch;
    this.#created = h.created;
    this.#headerLen = h.length;
    this.#offset = start;
  }

  #readFrom(exclusive: boolean, size: number): void {
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
        let tx: Tx | undefined;
        try {
          tx = JSON.parse(text.slice(pos, nl)) as Tx;
        } catch {
          tx = undefined;
        }
        if (tx && typeof tx.s === "number" && Array.isArray(tx.ops)) {
          try {
            this.state.applyTx(tx);
          } catch {
            this.state.badLines++; // a record this version cannot apply: counted, not fatal
          }
        } else this.state.badLines++;
        pos = nl + 1;
      }
      this.#offset += last + 1;
    }
    if (last + 1 < buf.length && exclusive) {
      // A torn last line: its writer died before finishing it (writers fsync before they
      // unlock), so nobody acted on it. Cut it off so the next record starts on its own line.
      try {
        jf.truncateSync(this.#offset);
        jf.syncDataSync();
      } catch (e) {
        throw new PoolWriteError(this.dir, this.#path("journal"), e);
      }
    }
  }

  #append(line: string): void {
    const jf = this.#jf!;
    const data = encoder.encode(line);
    try {
      jf.seekSync(this.#offset, Deno.SeekMode.Start);
      writeAll(jf, data);
      jf.syncDataSync();
    } catch (e) {
      try {
        jf.truncateSync(this.#offset);
        jf.syncDataSync();
      } catch {
        // The next writer cuts a torn last line.
      }
      throw new PoolWriteError(this.dir, this.#path("journal"), e);
    }
    this.#offset += data.length;
  }

  #readSnapshot(): { epoch: number; offset: number } | undefined {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path("snapshot"));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        this.#snapshotBytes = 0;
        return undefined;
      }
      throw e;
    }
    this.#snapshotBytes = text.length;
    const damaged = (why: string) =>
      new PoolFormatError(
        `The pool in '${this.dir}' has a damaged snapshot '${
          this.#path("snapshot")
        }' (${why}): restore it from a backup`,
      );
    const lines = text.split("\n");
    const head = lines[0].split("\t");
    if (head[0] !== SNAPSHOT_MAGIC) throw damaged("no header");
    if (Number(head[1]) > POOL_FORMAT_VERSION) throw newer(this.dir, head[1]);
    if (lines[5] !== "end") throw damaged("no end line");
    const meta = JSON.parse(head.slice(2).join("\t")) as {
      covers: { epoch: number; offset: number };
      seq: number;
      nextId: number;
      vars: Record<string, string>;
      badLines: number;
    };
    const s = this.state;
    for (const c of JSON.parse(lines[1]) as PoolClass[]) s.classes.set(c.name, c);
    for (const m of JSON.parse(lines[2]) as Machine[]) s.machines.set(m.name, m);
    const specs = JSON.parse(lines[3]) as (JobSpec & { keys: string[] })[];
    const specKeys = specs.map((p) => p.keys);
    for (const r of JSON.parse(lines[4]) as Row[]) {
      const spec = specs[r[1]];
      const vars: Record<string, string> = {};
      const keys = specKeys[r[1]];
      for (let k = 0; k < keys.length; k++) vars[keys[k]] = r[8 + k] as string;
      s.loadJob({
        id: r[0],
        class: spec.class,
        command: spec.command,
        vars,
        results: spec.results,
        outputs: spec.outputs ?? [],
        timeout: spec.timeout,
        retry: spec.retry,
        rep: r[2],
        reps: spec.reps,
        matrix: spec.matrix,
        state: r[3],
        reason: r[4],
        submitted: spec.submitted,
        since: r[5],
        attempts: r[7] || [],
        countFrom: r[6],
      });
    }
    s.seq = meta.seq;
    s.nextId = Math.max(s.nextId, meta.nextId);
    s.vars = meta.vars ?? {};
    s.badLines = meta.badLines ?? 0;
    return meta.covers;
  }

  #compact(): void {
    const s = this.state;
    const meta = {
      covers: { epoch: this.#epoch, offset: this.#offset },
      seq: s.seq,
      nextId: s.nextId,
      vars: s.vars,
      badLines: s.badLines,
    };
    // Jobs of one submission share a spec: written once, each job a short row.
    const specs: (JobSpec & { keys: string[] })[] = [];
    const specIndex = new Map<string, number>();
    let last: PoolJob | undefined;
    let lastIdx = -1;
    const jobs = s.jobs.values();
    const rows = function* (): Generator<string> {
      yield "[";
      let first = true;
      for (const j of jobs) {
        let idx = lastIdx;
        const keys = Object.keys(j.vars);
        if (!last || !sameSpec(last, j) || !sameKeys(specs[idx].keys, keys)) {
          const spec: JobSpec & { keys: string[] } = {
            class: j.class,
            command: j.command,
            results: j.results,
            ...(j.outputs.length > 0 ? { outputs: [...j.outputs] } : {}),
            timeout: j.timeout,
            retry: j.retry,
            reps: j.reps,
            matrix: j.matrix,
            submitted: j.submitted,
            keys,
          };
          const key = JSON.stringify(spec);
          idx = specIndex.get(key) ?? -1;
          if (idx < 0) {
            idx = specs.length;
            specs.push(spec);
            specIndex.set(key, idx);
          }
        }
        last = j;
        lastIdx = idx;
        const row: Row = [
          j.id,
          idx,
          j.rep,
          j.state,
          j.reason,
          j.since,
          j.countFrom,
          j.attempts.length ? j.attempts : 0,
        ];
        for (const k of specs[idx].keys) row.push(j.vars[k]);
        yield (first ? "" : ",") + JSON.stringify(row);
        first = false;
      }
      yield "]\n";
    };
    const rowText = [...chunked(rows())];
    const bytes = replaceFile(this.dir, "snapshot", [
      `${SNAPSHOT_MAGIC}\t${POOL_FORMAT_VERSION}\t${JSON.stringify(meta)}\n`,
      JSON.stringify([...s.classes.values()]) + "\n",
      JSON.stringify([...s.machines.values()]) + "\n",
      JSON.stringify(specs) + "\n",
      ...rowText,
      "end\n",
    ]);
    this.#snapshotBytes = bytes;
    const header = journalHeader(this.#epoch + 1, this.#created);
    replaceFile(this.dir, "journal", [header]);
    this.#epoch++;
    this.#headerLen = encoder.encode(header).length;
    this.#offset = this.#headerLen;
    this.compactions++;
  }
}

/**
 * A job in the snapshot, a flat array (fast to parse): id, spec index, rep, state, reason,
 * since, countFrom, attempts (0 for none), then the values of the spec's variables in order.
 */
type Row = [
  number,
  number,
  number,
  PoolJob["state"],
  string | null,
  number,
  number,
  Attempt[] | 0,
  ...string[],
];

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSpec(a: PoolJob, b: PoolJob): boolean {
  return a.class === b.class && a.command === b.command && a.results === b.results &&
    a.outputs.length === b.outputs.length && a.outputs.every((o, i) => o === b.outputs[i]) &&
    a.timeout === b.timeout && a.retry.attempts === b.retry.attempts &&
    a.retry.countInfrastructure === b.retry.countInfrastructure && a.reps === b.reps &&
    a.matrix === b.matrix && a.submitted === b.submitted;
}

/** Joins small strings into chunks of about a megabyte. */
function* chunked(parts: Iterable<string>): Generator<string> {
  let buf: string[] = [];
  let size = 0;
  for (const p of parts) {
    buf.push(p);
    size += p.length;
    if (size > 1 << 20) {
      yield buf.join("");
      buf = [];
      size = 0;
    }
  }
  if (buf.length) yield buf.join("");
}
