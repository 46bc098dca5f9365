/**
 * The action layer: groups of processes, composition and reports.
 *
 * @module
 */

export {
  Composite,
  CompositeError,
  CompositeResult,
  FunctionResult,
  par,
  RunningComposite,
  seq,
  type Step,
  type StepFunction,
  type StepResult,
} from "./compose.ts";
export { Group, local } from "./group.ts";
export {
  DEFAULT_CONCURRENCY,
  GroupCommand,
  type GroupCommandInput,
  type GroupSettings,
  type PerTarget,
  RunningGroup,
} from "./group_command.ts";
export { GroupError, GroupResult } from "./group_result.ts";
export { Report, report, type Reportable, type ReportEntry, type ReportSummary } from "./report.ts";
export { type HostCheck, Hosts, hosts, hostsFromFile } from "./hosts.ts";
// Plumbing shared with the layers above (not exported from the package's mod.ts).
export { oneLine } from "./_one_line.ts";
export { textTable } from "./_table.ts";
