/**
 * The state of a detached job, decided from what the status script saw on the host.
 *
 * @module
 */

/**
 * Why a job is lost: its outcome can no longer be known. `owner ended`: what owned the job's
 * host ended, and the job with it (the Slurm allocation of a node was released or ended).
 */
export type LostReason = "host rebooted" | "supervisor gone" | "folder removed" | "owner ended";

/** The state of a detached job. */
export type JobStatus =
  | {
    /** The command runs (its supervisor is alive). */
    readonly state: "running";
    /** The pid of the job's first process (its session and process group id). */
    readonly pid: number;
    /** Seconds since the last heartbeat, or null if none was written yet. */
    readonly heartbeatAge: number | null;
  }
  | {
    /** The command exited by itself. */
    readonly state: "exited";
    /** Its exit code. */
    readonly code: number;
    /** End time on the host. */
    readonly end: Date | null;
  }
  | {
    /** The command was ended by a signal. */
    readonly state: "killed";
    /** The signal. */
    readonly signal: Deno.Signal;
    /** Whether dexp was asked to kill it (`kill()`), rather than someone else. */
    readonly byDexp: boolean;
    /** End time on the host. */
    readonly end: Date | null;
  }
  | {
    /** The outcome cannot be known any more. */
    readonly state: "lost";
    /** Why. */
    readonly reason: LostReason;
    /** Detail for people. */
    readonly detail: string;
  }
  | {
    /** The host could not be asked (unreachable): nothing is known. */
    readonly state: "unknown";
    /** Why the host could not be asked. */
    readonly detail: string;
  };

/** Linux signal numbers, for exit statuses 128+N. */
const SIGNALS: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/**
 * The signal that an exit status of 128+N stands for (the shell's convention), if any.
 *
 * @param status The status the supervisor recorded.
 * @returns The signal, or null for a plain exit code.
 */
export function signalOfStatus(status: number): Deno.Signal | null {
  return status > 128 ? SIGNALS[status - 128] ?? null : null;
}

/** One job's block of the status script's output, parsed. */
export interface JobReport {
  /** The job id. */
  readonly id: string;
  /** The folder does not exist. */
  readonly gone: boolean;
  /** `STATUS END_MS`: the exit file's status and its modification time, if written. */
  readonly exit: string | null;
  /** The signal dexp was asked to send, if any. */
  readonly killed: string | null;
  /** The meta file's keys and values. */
  readonly meta: Readonly<Record<string, string>>;
  /** The boot id now. */
  readonly bootNow: string;
  /** `SID SIDSTART SUPPID SUPSTART` (the session and the supervisor), if written. */
  readonly pid: readonly number[] | null;
  /** The job process now: `[state, start]`, or null if there is none with that pid. */
  readonly cproc: readonly [string, number] | null;
  /** The supervisor now: `[state, start]`, or null. */
  readonly sproc: readonly [string, number] | null;
  /** The last heartbeat (the host's uptime in seconds), or null. */
  readonly heartbeat: number | null;
  /** The host's uptime (seconds) when it answered. */
  readonly now: number;
}

/**
 * Parses the output of the status or list script.
 *
 * @param text The script's standard output.
 * @returns One report per job, in the order printed.
 */
export function parseReports(text: string): JobReport[] {
  type Mut = { -readonly [K in keyof JobReport]: JobReport[K] };
  const out: Mut[] = [];
  let cur: Mut | null = null;
  let now = 0;
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    const key = sp < 0 ? line : line.slice(0, sp);
    const val = sp < 0 ? "" : line.slice(sp + 1);
    if (key === "@job") {
      cur = {
        id: val,
        gone: false,
        exit: null,
        killed: null,
        meta: {},
        bootNow: "",
        pid: null,
        cproc: null,
        sproc: null,
        heartbeat: null,
        now: 0,
      };
      out.push(cur);
      continue;
    }
    if (key === "@now") {
      now = Number(val);
      continue;
    }
    if (cur === null) continue;
    switch (key) {
      case "gone":
        cur.gone = true;
        break;
      case "exit":
        cur.exit = val;
        break;
      case "killed":
        cur.killed = val;
        break;
      case "meta": {
        const eq = val.indexOf("=");
        if (eq > 0) (cur.meta as Record<string, string>)[val.slice(0, eq)] = val.slice(eq + 1);
        break;
      }
      case "bootnow":
        cur.bootNow = val;
        break;
      case "pid": {
        const p = val.split(" ").map(Number);
        cur.pid = p.length === 4 && p.every((n) => Number.isInteger(n) && n > 0) ? p : null;
        break;
      }
      case "cproc":
      case "sproc": {
        const [state, start] = val.split(" ");
        const v = state === "none" ? null : [state, Number(start)] as const;
        if (key === "cproc") cur.cproc = v;
        else cur.sproc = v;
        break;
      }
      case "hb":
        cur.heartbeat = val === "" || !/^\d+$/.test(val) ? null : Number(val);
        break;
    }
  }
  for (const r of out) r.now = now;
  return out;
}

function alive(p: readonly [string, number] | null, start: number): boolean {
  return p !== null && p[0] !== "Z" && p[0] !== "X" && p[1] === start;
}

/**
 * Decides a job's state from its report. A pid counts as the job's only when its start time
 * is the recorded one, so a pid reused by another process is not mistaken for the job.
 *
 * @param r The report.
 * @returns The state.
 */
export function decideStatus(r: JobReport): JobStatus {
  if (r.gone) {
    return { state: "lost", reason: "folder removed", detail: `the job folder of ${r.id} is gone` };
  }
  if (r.exit !== null) {
    const [status, endMs] = r.exit.split(" ").map(Number);
    const end = Number.isFinite(endMs) ? new Date(endMs) : null;
    const signal = signalOfStatus(status);
    if (signal !== null) return { state: "killed", signal, byDexp: r.killed !== null, end };
    return { state: "exited", code: status, end };
  }
  const boot = r.meta.boot ?? "";
  if (boot !== "" && r.bootNow !== boot) {
    return {
      state: "lost",
      reason: "host rebooted",
      detail: `the boot id changed from ${boot} to ${r.bootNow || "(unreadable)"}`,
    };
  }
  if (r.pid === null) {
    return {
      state: "lost",
      reason: "supervisor gone",
      detail: "the job never recorded its pid and has no exit status",
    };
  }
  const [pid, start, sup, supStart] = r.pid;
  if (alive(r.sproc, supStart)) {
    return {
      state: "running",
      pid,
      heartbeatAge: r.heartbeat === null ? null : Math.max(0, r.now - r.heartbeat),
    };
  }
  const still = alive(r.cproc, start);
  return {
    state: "lost",
    reason: "supervisor gone",
    detail: `the supervisor (pid ${sup}) ended without writing an exit status${
      still ? `; the leader of its session, pid ${pid}, still runs` : ""
    }`,
  };
}
