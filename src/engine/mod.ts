/**
 * The experiment engine: registration, the run loop, result folders, resume, restarts,
 * progress, logs, notification and results collection.
 *
 * @module
 */

export {
  clearExperiments,
  defineExperiment,
  type Experiment,
  experiment,
  type ExperimentFn,
  type ExperimentOptions,
  type ExperimentOutcome,
  type ExperimentParams,
  type ParamsOf,
  registeredExperiments,
} from "./registry.ts";
export {
  AttemptStoppedError,
  type ContextDetachOptions,
  type DetachedResult,
  ExperimentContext,
  RestartRequest,
  type Row,
} from "./context.ts";
export { type CommandFailure } from "./failures.ts";
export {
  type CombinationRecord,
  type Display,
  filterExperiments,
  planExperiments,
  type PlannedCombination,
  runExperiments,
  type RunExperimentsOptions,
  type RunJson,
} from "./runner.ts";
export { type ExperimentSummary, type RunExperimentsSummary } from "./summary.ts";
export { type ComboOutcome, type RunEvent, type RunListener } from "./events.ts";
export { estimateEta, type EtaInput, ProgressModel, type RenderOptions } from "./progress.ts";
export { type Logger, type LogLevel } from "./log.ts";
export { notify, type NotifyPayload, notifyPayload } from "./notify.ts";
export {
  collectRun,
  type ComboState,
  type ReportRow,
  rowsFromJsonLines,
  rowsFromRegex,
  type RunTable,
  toCsv,
  toText,
  writeReport,
} from "./collect.ts";
export {
  isRunId,
  listRunIds,
  LOG_TXT,
  RESULT_JSON,
  RESULT_PENDING_JSON,
  ROWS_JSONL,
  RUN_ID_PATTERN,
  RUN_JSON,
  SWEEP_DIR,
} from "./rundir.ts";
export { type ExperimentPool, type PoolPlace } from "./pool_places.ts";
export { listRuns, type RunInfo, type RunLiveness, runLiveness } from "./status.ts";
export {
  experimentFiles,
  ExperimentLoadError,
  loadExperiments,
  type LoadExperimentsOptions,
} from "./load.ts";
export { resolveRunDir, RunFolderError } from "./run_folder.ts";
export { LogNotFoundError, readLog, type ReadLogOptions, runEnded } from "./follow_log.ts";
export { type AtomicWriteOptions, writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
export {
  type DetachedEntry,
  type DetachedJob,
  JOBS_JSON,
  type JobsFile,
  type PendingStart,
  type RecordedJobs,
  recordedJobs,
} from "./detached.ts";
export {
  cancelRunArrays,
  describeSlurmStates,
  readSlurmJson,
  type RunSlurmStates,
  runSlurmStates,
  SLURM_JSON,
  SLURM_RUN_DIR_ENV,
  type SlurmArrayRecord,
  type SlurmRunJson,
  type SlurmRunOptions,
} from "./slurm_run.ts";
