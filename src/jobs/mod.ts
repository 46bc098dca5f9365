/**
 * The jobs layer: detached jobs that outlive the program that started them. A small POSIX sh
 * supervisor on each host runs the command in its own session, writes its output to files and
 * its exit status atomically; references (plain JSON) let any process attach, follow the
 * output, kill or forget them.
 *
 * @module
 */

export { detach, type DetachOptions, isNameTaken, startRanNothing } from "./detach.ts";
export {
  type FollowOptions,
  type FollowRead,
  forgetJobs,
  Job,
  killJobs,
  type KillOptions,
  killSignal,
  type OutputChunk,
  type OutputOptions,
  type WaitOptions,
} from "./job.ts";
export {
  attachJobs,
  type AttachOptions,
  JobGroup,
  type JobListing,
  listJobs,
  type ListOptions,
} from "./job_group.ts";
export { checkJobRef, hostOfTarget, type JobRef } from "./job_ref.ts";
export {
  claimJobName,
  type NameClaim,
  type NameClaimOptions,
  settleJobName,
} from "./name_claim.ts";
export { isJobHost, type JobHost, type SlurmJobHost } from "./job_host.ts";
export { FAILED as JOB_FAILED_LINE, STARTED as JOB_STARTED_LINE } from "./supervisor.ts";
export { type JobStatus, type LostReason, signalOfStatus } from "./job_status.ts";
export {
  checkJobId,
  checkJobName,
  checkRemotePath,
  DEFAULT_BOOT_ID_FILE,
  DEFAULT_JOBS_ROOT,
} from "./names.ts";
