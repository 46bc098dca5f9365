/**
 * Log files: append-only text files, one line per event, written synchronously so lines from
 * concurrent combinations never interleave within a line. A combination's log also holds the
 * raw output of its commands, written chunk by chunk (see {@linkcode logOutput}).
 *
 * @module
 */

import type { LineInfo, OutputSink } from "../process/mod.ts";

const enc = new TextEncoder();
const LF = 10;

/** An open log file (append mode); several processes may append to the same file. */
export class LogFile {
  /** The file's path. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  /** False while the last bytes written end in the middle of a line (raw output). */
  #atLineStart = true;
  /** Whose output was written last; undefined after a log line. */
  #source: object | undefined;

  /**
   * Opens (and creates) a log file for appending.
   *
   * @param path The file.
   */
  constructor(path: string) {
    this.path = path;
    this.#file = Deno.openSync(path, { append: true, create: true });
  }

  /**
   * Appends lines (a newline is added to each).
   *
   * @param lines The lines.
   */
  write(...lines: string[]): void {
    if (!this.#file) return;
    const text = lines.map((l) => l + "\n").join("");
    this.#writeBytes(enc.encode(this.#atLineStart ? text : "\n" + text));
    this.#atLineStart = true;
    this.#source = undefined;
  }

  /**
   * Appends raw output as it is. When something else was written last (a log line or the
   * output of another source), a line `<timestamp> <header>` comes first, on a line of its
   * own (a `\n` is added if the file ended in the middle of a line).
   *
   * @param source Who wrote it: one object per stream of a process.
   * @param header Names the source, e.g. `[local] stdout:`.
   * @param parts The bytes, in order.
   */
  writeOutput(source: object, header: string, parts: readonly Uint8Array[]): void {
    if (!this.#file) return;
    if (this.#source !== source) {
      this.#writeBytes(enc.encode(`${this.#atLineStart ? "" : "\n"}${stamp()} ${header}\n`));
      this.#atLineStart = true;
      this.#source = source;
    }
    for (const p of parts) {
      if (p.length === 0) continue;
      this.#writeBytes(p);
      this.#atLineStart = p[p.length - 1] === LF;
    }
  }

  #writeBytes(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += this.#file!.writeSync(bytes.subarray(off));
  }

  /** Closes the file; later writes are dropped. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A timestamp for log lines: ISO 8601 UTC with milliseconds. */
export function stamp(at: number = Date.now()): string {
  return new Date(at).toISOString();
}

/** Severity of a log message written through `ctx.log`. */
export type LogLevel = "info" | "warn" | "error";

/** The logger of a combination (`ctx.log`): to its log, the run's log and the display. */
export interface Logger {
  /**
   * Logs a message at `info` level.
   *
   * @param message The message (several lines are logged separately).
   */
  (message: string): void;
  /**
   * Logs a message at `info` level.
   *
   * @param message The message.
   */
  info(message: string): void;
  /**
   * Logs a message at `warn` level.
   *
   * @param message The message.
   */
  warn(message: string): void;
  /**
   * Logs a message at `error` level.
   *
   * @param message The message.
   */
  error(message: string): void;
}

/**
 * Makes a {@linkcode Logger} from a function that writes one line at a level.
 *
 * @param write Writes one line.
 * @returns The logger.
 */
export function makeLogger(write: (level: LogLevel, line: string) => void): Logger {
  const emit = (level: LogLevel, message: string) => {
    for (const line of String(message).split("\n")) write(level, line);
  };
  const log = ((m: string) => emit("info", m)) as Logger;
  log.info = (m) => emit("info", m);
  log.warn = (m) => emit("warn", m);
  log.error = (m) => emit("error", m);
  return log;
}

/** A partial line longer than this is written without waiting for its end. */
const HOLD_LIMIT = 8 * 1024;
/** The most bytes of a line decoded for the display. */
const SAMPLE_BYTES = 256;
const sampleDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A sink that writes one stream of one process to a log file, raw and chunk by chunk: no
 * work per line, whatever the output (at most the last 8 KiB of a chunk are searched for a
 * line end). What comes after a chunk's last line end waits for the rest of its line (up to
 * 8 KiB), so that the output of several processes writing to the same log is only mixed at
 * line ends (a longer line may be split where a chunk ended); a header line names the source each time it
 * changes (see {@linkcode LogFile.writeOutput}).
 *
 * @param log The log file.
 * @param info Which target and stream.
 * @param sample Called once per chunk that ends a line, with the last line it ends (its first
 *   256 bytes at most): what a display shows.
 * @returns The sink.
 */
export function logOutput(
  log: LogFile,
  info: LineInfo,
  sample?: (line: string) => void,
): OutputSink {
  const source = {};
  const header = `[${info.target}] ${info.stream}:`;
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  const flush = (more?: Uint8Array) => {
    const parts = more ? [...held, more] : held;
    if (parts.length > 0) log.writeOutput(source, header, parts);
    held = [];
    heldBytes = 0;
  };
  return {
    write(chunk: Uint8Array): void {
      // A partial line that can still be held starts in the last HOLD_LIMIT bytes: look for
      // the line end there only, so that a chunk costs the same whatever its lines.
      const lo = Math.max(0, chunk.length - HOLD_LIMIT);
      const found = chunk.subarray(lo).lastIndexOf(LF);
      if (found === -1) {
        if (lo === 0 && heldBytes + chunk.length < HOLD_LIMIT) {
          held.push(chunk);
          heldBytes += chunk.length;
        } else flush(chunk); // a partial line longer than the limit: written now
        return;
      }
      const nl = lo + found;
      const begun = held;
      flush(chunk.subarray(0, nl + 1));
      if (nl + 1 < chunk.length) {
        held.push(chunk.subarray(nl + 1));
        heldBytes = chunk.length - nl - 1;
      }
      if (sample) {
        const near = Math.max(0, nl - HOLD_LIMIT);
        const prev = nl === 0 ? -1 : chunk.subarray(near, nl).lastIndexOf(LF);
        // The line may have begun in earlier chunks (held until now): show its beginning;
        // of a line too long to look for its start, its last bytes.
        const parts = prev !== -1
          ? [chunk.subarray(near + prev + 1, nl)]
          : near === 0
          ? [...begun, chunk.subarray(0, nl)]
          : [chunk.subarray(nl - SAMPLE_BYTES, nl)];
        const line = new Uint8Array(SAMPLE_BYTES);
        let size = 0;
        for (const p of parts) {
          const take = Math.min(p.length, SAMPLE_BYTES - size);
          line.set(p.subarray(0, take), size);
          size += take;
          if (size === SAMPLE_BYTES) break;
        }
        if (size > 0 && size < SAMPLE_BYTES && line[size - 1] === 13) size--;
        sample(sampleDecoder.decode(line.subarray(0, size)));
      }
    },
    close(): void {
      flush();
    },
  };
}
