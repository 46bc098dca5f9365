/**
 * The process layer: one local OS process, started, watched and stopped.
 *
 * @module
 */

export { Lazy, Running, Settled } from "./awaitable.ts";
export { cmd, Command } from "./command.ts";
export { OptionsBuilder } from "./builder.ts";
export { BoundedCapture, DEFAULT_CAPTURE_LIMIT } from "./capture.ts";
export { type Duration, formatDuration, toMillis } from "./duration.ts";
export { fdBudget, type FdLimits, fdLimits } from "./fd_limit.ts";
export {
  ConnectError,
  ConnectionLostError,
  describeFailure,
  errorFor,
  ExitError,
  ExpectError,
  OutputError,
  ProcessError,
  type ProcessErrorOptions,
  SignalError,
  SpawnError,
  TimeoutError,
} from "./errors.ts";
export {
  type CommandOptions,
  DEFAULT_KILL_GRACE,
  DEFAULT_OPTIONS,
  type FileSink,
  type LineHandler,
  type LineInfo,
  type OutputSink,
  type OutputSinkFactory,
  type StdinSpec,
  type StreamName,
} from "./options.ts";
export { handleSignals, killEverything, onExit, type Stoppable, stopTracked } from "./reaper.ts";
export { fillPlaceholders } from "./placeholders.ts";
export { quote, quoteArgv, raw, RawShell, sh, type ShellValue } from "./quote.ts";
export { type FailureKind, ProcessResult, type ProcessResultJson } from "./result.ts";
export {
  type ExecuteContext,
  type ExpectMatch,
  type ExpectOptions,
  RunningProcess,
} from "./running.ts";
export {
  type Launch,
  LaunchError,
  type LaunchSpec,
  LOCAL,
  type StreamFilter,
  type Target,
} from "./target.ts";
export { DEFAULT_MAX_LINE_BYTES, type LineSink, LineSplitter } from "./lines.ts";
export { Window } from "./window.ts";
export { DEXP_VERSION } from "./version.ts";
// Plumbing shared with the layers above (not exported from the package's mod.ts).
export { track, untrack } from "./reaper.ts";
export { readProcStat } from "./proc_stat.ts";
export { callSiteOf, withCallSite } from "./call_site.ts";
export { isAlive } from "./tree.ts";
export {
  basename,
  dirname,
  extname,
  fromFileUrl,
  isAbsolute,
  join,
  normalize,
  resolve,
  toFileUrl,
} from "./path.ts";
