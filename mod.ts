/**
 * dexp: script and run experiments across many machines, from one TypeScript program.
 *
 * The capabilities, each with its entry point:
 *
 * - Commands: {@linkcode cmd} makes a lazy, immutable {@linkcode Command}; await it for a
 *   {@linkcode ProcessResult}, or `spawn()` it for a {@linkcode RunningProcess}. Values
 *   interpolated with {@linkcode sh} are quoted for any POSIX shell.
 * - Hosts and ssh: {@linkcode hosts} (or {@linkcode hostsFromFile}) makes {@linkcode Hosts};
 *   their `run()`, `put()` and `get()` fan out over the system `ssh`, with connection reuse.
 * - Groups and composition: a {@linkcode GroupCommand} runs on every member of a group
 *   ({@linkcode local} makes local slots) and resolves to a {@linkcode GroupResult};
 *   {@linkcode seq} and {@linkcode par} compose steps.
 * - Reports: {@linkcode report} summarises results as a table or JSON.
 * - Sweeps: {@linkcode sweep} lists parameter combinations lazily; {@linkcode ParamSweeper}
 *   checkpoints them in a folder many processes can share.
 * - Detached jobs: {@linkcode detach} starts commands that outlive the program;
 *   {@linkcode attachJobs} and {@linkcode listJobs} find them again.
 * - Slurm: {@linkcode slurmAllocate} gets an allocation whose nodes run job steps;
 *   {@linkcode submitArray} submits a job array.
 * - Experiments: {@linkcode experiment} registers an experiment, {@linkcode runExperiments}
 *   runs it into a results folder (resumable), {@linkcode collectRun} gathers its rows.
 *
 * Targets for other backends (what a new kind of host implements) are in the
 * `@dexp/dexp/backend` entry.
 *
 * A command, its output and its exit code:
 *
 * ```ts
 * import { cmd, sh } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 *
 * const r = await cmd(sh`echo ${"hello, world"}`).quiet();
 * strictEqual(r.text(), "hello, world");
 * strictEqual(r.exitCode, 0);
 * ```
 *
 * A command on several local slots, then a report:
 *
 * ```ts
 * import { local, report } from "@dexp/dexp";
 * import { deepStrictEqual, strictEqual } from "node:assert";
 *
 * const r = await local(3).run((_t, i) => `echo ${i * i}`).quiet();
 * deepStrictEqual(r.results.map((p) => p.text()), ["0", "1", "4"]);
 * strictEqual(report(r).summary.succeeded, 3);
 * ```
 *
 * A sweep, checkpointed in a folder:
 *
 * ```ts
 * import { ParamSweeper, sweep } from "@dexp/dexp";
 * import { deepStrictEqual } from "node:assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using sweeper = await ParamSweeper.open(dir, sweep({ n: [1, 2], impl: ["a", "b"] }));
 * const seen: string[] = [];
 * for await (const c of sweeper) seen.push(`${c.impl}${c.n}`);
 * deepStrictEqual(seen, ["a1", "b1", "a2", "b2"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

// Commands: one process, its result, its errors.
export {
  cmd,
  Command,
  DEXP_VERSION,
  type Duration,
  type ExpectMatch,
  type ExpectOptions,
  type FailureKind,
  formatDuration,
  handleSignals,
  killEverything,
  type LineHandler,
  type LineInfo,
  type OutputSink,
  type OutputSinkFactory,
  ProcessResult,
  type ProcessResultJson,
  quote,
  quoteArgv,
  raw,
  RawShell,
  RunningProcess,
  sh,
  type ShellValue,
  type StdinSpec,
  type StreamName,
  type Target,
  toMillis,
} from "./src/process/mod.ts";
// Errors: one class per way a command can fail.
export {
  ConnectError,
  ConnectionLostError,
  ExitError,
  ExpectError,
  OutputError,
  ProcessError,
  SignalError,
  SpawnError,
  TimeoutError,
} from "./src/process/mod.ts";

// Hosts and ssh.
export {
  closeConnections,
  closePersisted,
  type ConnectionParams,
  FAST_KEX,
  Host,
  type HostInput,
  type HostList,
  type HostSpec,
  type Kex,
  parseHostList,
  parseHostString,
  type PersistedConnection,
  type PersistedConnectionInfo,
  persistedConnections,
  type Tags,
  type TransferOptions,
} from "./src/ssh/mod.ts";
export { type HostCheck, Hosts, hosts, hostsFromFile } from "./src/action/mod.ts";

// Groups and composition.
export {
  Composite,
  CompositeError,
  CompositeResult,
  FunctionResult,
  Group,
  GroupCommand,
  type GroupCommandInput,
  GroupError,
  GroupResult,
  type GroupSettings,
  local,
  par,
  type PerTarget,
  RunningComposite,
  RunningGroup,
  seq,
  type Step,
  type StepFunction,
  type StepResult,
} from "./src/action/mod.ts";

// Reports.
export {
  Report,
  report,
  type Reportable,
  type ReportEntry,
  type ReportSummary,
} from "./src/action/mod.ts";

// Sweeps and checkpoints.
export {
  type Branch,
  branch,
  type BranchMap,
  type ClaimInfo,
  type ClaimsOptions,
  type Combination,
  combinationId,
  combinationName,
  type CombinationNameOptions,
  type CombinationReason,
  type CombinationState,
  type Computed,
  computed,
  dependent,
  formatSweepStatus,
  geom,
  type InferCombination,
  type InferValue,
  type JsonScalar,
  type JsonValue,
  linspace,
  type Liveness,
  type Owner,
  ParamSweeper,
  type ParamSweeperOptions,
  parseCombinationName,
  type ParsedCombinationName,
  powers,
  range,
  resetSweep,
  type ResetWhat,
  type RunOptions,
  type RunSummary,
  type SpecValue,
  type Sweep,
  sweep,
  type SweeperTimers,
  SweepFormatError,
  type SweepOptions,
  type SweepSpec,
  type SweepStats,
  type SweepStatus,
  sweepStatus,
  type SweepStatusOptions,
  SweepWriteError,
} from "./src/sweep/mod.ts";

// Detached jobs (attachJobs, which also knows Slurm nodes, is exported with Slurm below).
export {
  claimJobName,
  detach,
  type DetachOptions,
  type FollowOptions,
  type FollowRead,
  forgetJobs,
  Job,
  JobGroup,
  type JobListing,
  type JobRef,
  type JobStatus,
  killJobs,
  type KillOptions,
  listJobs,
  type ListOptions,
  type LostReason,
  type NameClaim,
  type NameClaimOptions,
  type OutputChunk,
  type OutputOptions,
  type SlurmJobHost,
  type WaitOptions,
} from "./src/jobs/mod.ts";

// Host pool and job queue.
export {
  type Attempt,
  type AttemptEnd,
  type AttemptOutcome,
  type ClaimSpec,
  DispatcherBusyError,
  type DispatcherHolder,
  expandMatrix,
  FINAL_JOB_STATES,
  initPool,
  type InitPoolOptions,
  type JobFilter,
  type JobState,
  type Machine,
  type MachineSetup,
  type MachineState,
  type Matrix,
  type MatrixSpec,
  openPool,
  type OpenPoolOptions,
  parseMatrixArgs,
  Pool,
  type PoolChange,
  type PoolClass,
  type PoolClassInput,
  PoolFormatError,
  type PoolJob,
  type PoolStat,
  PoolStateError,
  PoolWriteError,
  type RetryPolicy,
  type ServeOptions,
  type SetupInfo,
  type StatRow,
  type SubmitSpec,
} from "./src/pool/mod.ts";

// Slurm.
export {
  attachJobs,
  cancelJobs,
  querySlurmJobs,
  slurmAllocate,
  type SlurmAllocateOptions,
  SlurmAllocation,
  type SlurmArrayOptions,
  SlurmError,
  type SlurmErrorKind,
  type SlurmJobState,
  SlurmNode,
  type SlurmOutcome,
  slurmOutcome,
  type SlurmProgress,
  type SlurmQueryOptions,
  SlurmTracker,
  type SlurmTrackerOptions,
  submitArray,
} from "./src/slurm/mod.ts";

// Experiments: registration, runs, results.
export {
  type AtomicWriteOptions,
  AttemptStoppedError,
  cancelRunArrays,
  clearExperiments,
  collectRun,
  type CombinationRecord,
  type ComboOutcome,
  type ComboState,
  type CommandFailure,
  type ContextDetachOptions,
  defineExperiment,
  type DetachedEntry,
  type DetachedJob,
  type DetachedResult,
  type Display,
  type Experiment,
  experiment,
  ExperimentContext,
  experimentFiles,
  type ExperimentFn,
  ExperimentLoadError,
  type ExperimentOptions,
  type ExperimentOutcome,
  type ExperimentParams,
  type ExperimentPool,
  type ExperimentSummary,
  filterExperiments,
  listRuns,
  loadExperiments,
  type LoadExperimentsOptions,
  type Logger,
  type LogLevel,
  LogNotFoundError,
  notify,
  type NotifyPayload,
  type ParamsOf,
  type PendingStart,
  planExperiments,
  type PlannedCombination,
  type PoolPlace,
  readLog,
  type ReadLogOptions,
  type RecordedJobs,
  recordedJobs,
  registeredExperiments,
  type ReportRow,
  resolveRunDir,
  RestartRequest,
  type Row,
  rowsFromJsonLines,
  rowsFromRegex,
  runEnded,
  type RunEvent,
  runExperiments,
  type RunExperimentsOptions,
  type RunExperimentsSummary,
  RunFolderError,
  type RunInfo,
  type RunJson,
  type RunListener,
  type RunLiveness,
  runLiveness,
  type RunSlurmStates,
  runSlurmStates,
  type RunTable,
  type SlurmRunOptions,
  toCsv,
  toText,
  writeFileAtomic,
  writeJsonAtomic,
  writeReport,
} from "./src/engine/mod.ts";
