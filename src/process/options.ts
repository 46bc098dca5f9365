/**
 * The settings of a command, shared by single commands and groups.
 *
 * @module
 */

import { DEFAULT_CAPTURE_LIMIT } from "./capture.ts";
import { DEFAULT_MAX_LINE_BYTES } from "./lines.ts";

/** Which output stream a line came from. */
export type StreamName = "stdout" | "stderr";

/** Context passed to line handlers. */
export interface LineInfo {
  /** `local` or the host's name. */
  readonly target: string;
  /** The stream of the line. */
  readonly stream: StreamName;
  /** Index of the target in its group (0 for a single command). */
  readonly index: number;
  /**
   * True when the line was longer than the command's `maxLineBytes` (default 1 MiB): the
   * handler gets its first `maxLineBytes` bytes, the rest of the line is not split out (it
   * is still in files, `onOutput` sinks and the capture).
   */
  readonly cut?: boolean;
}

/** Receives output line by line, as it arrives. */
export type LineHandler = (line: string, info: LineInfo) => void;

/** Receives the raw bytes of one output stream of one process, chunk by chunk. */
export interface OutputSink {
  /**
   * Takes the next chunk; called in order, never after `close()`. It may keep the chunk
   * (it is not reused). A throw counts as lost output: the result fails with `output`.
   */
  write(chunk: Uint8Array): void;
  /** The stream has ended (also after an error). */
  close(): void;
}

/** Makes the sink of one stream of one process (called twice per process: stdout, stderr). */
export type OutputSinkFactory = (info: LineInfo) => OutputSink;

/** Output written to a file as it arrives; `{host}`, `{i}` placeholders are filled per target. */
export interface FileSink {
  /** The file; its parent folders are created. */
  readonly path: string;
  /** Append instead of truncating. */
  readonly append: boolean;
}

/**
 * Standard input of a command:
 * - `"null"` (default): nothing, reads see end of file;
 * - `"inherit"`: this program's standard input;
 * - `"piped"`: write to it from the running handle (`write`, `writeLine`, `closeStdin`);
 * - a string, bytes or a list of lines (each followed by `\n`): written, then closed.
 */
export type StdinSpec = "null" | "inherit" | "piped" | string | Uint8Array | readonly string[];

/** Everything a command builder holds besides the command and its target. */
export interface CommandOptions {
  /** Extra environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory. */
  readonly cwd?: string;
  /** Standard input. */
  readonly stdin: StdinSpec;
  /** Timeout in ms, or undefined for none. */
  readonly timeout?: number;
  /** Time between TERM and KILL when stopping, in ms. */
  readonly killGrace: number;
  /** Resolve with the result instead of rejecting on failure. */
  readonly noThrow: boolean;
  /** Do not copy output to the console. */
  readonly quiet: boolean;
  /** Prefix of console lines; groups default to `[host] `. */
  readonly prefix?: string;
  /** Handlers of stdout lines. */
  readonly stdoutHandlers: readonly LineHandler[];
  /** Handlers of stderr lines. */
  readonly stderrHandlers: readonly LineHandler[];
  /** Files that receive stdout. */
  readonly stdoutFiles: readonly FileSink[];
  /** Files that receive stderr. */
  readonly stderrFiles: readonly FileSink[];
  /** Bytes of each stream kept in memory (head and tail). */
  readonly captureLimit: number;
  /** The longest line given whole to handlers, the console and `expect()`, in bytes. */
  readonly maxLineBytes: number;
  /** Receivers of the raw bytes of both streams (no line splitting). */
  readonly outputSinks: readonly OutputSinkFactory[];
}

/** Default grace period between TERM and KILL. */
export const DEFAULT_KILL_GRACE = 2000;

/**
 * The settings of a new builder.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { DEFAULT_OPTIONS } from "@dexp/dexp/backend";
 * import { strictEqual } from "node:assert";
 *
 * strictEqual(cmd("true").settings.quiet, DEFAULT_OPTIONS.quiet);
 * strictEqual(cmd("true").quiet().settings.quiet, true);
 * ```
 */
export const DEFAULT_OPTIONS: CommandOptions = {
  env: {},
  stdin: "null",
  killGrace: DEFAULT_KILL_GRACE,
  noThrow: false,
  quiet: false,
  stdoutHandlers: [],
  stderrHandlers: [],
  stdoutFiles: [],
  stderrFiles: [],
  captureLimit: DEFAULT_CAPTURE_LIMIT,
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
  outputSinks: [],
};
