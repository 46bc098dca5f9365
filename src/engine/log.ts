/**
 * Log files: append-only text files, one line per event, written synchronously so lines from
 * concurrent combinations never interleave within a line.
 *
 * @module
 */

const enc = new TextEncoder();

/** An open log file (append mode); several processes may append to the same file. */
export class LogFile {
  readonly path: string;
  #file: Deno.FsFile | undefined;

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
    const bytes = enc.encode(lines.map((l) => l + "\n").join(""));
    let off = 0;
    while (off < bytes.length) off += this.#file.writeSync(bytes.subarray(off));
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
