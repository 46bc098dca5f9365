/**
 * Running a command on a host through the system `ssh`: the remote wrapper, the marker that
 * tells the remote process group, remote kill, and classification of ssh's failures.
 *
 * @module
 */

import {
  type FailureKind,
  type Launch,
  type LaunchSpec,
  quote,
  quoteArgv,
  type StreamFilter,
} from "../process/mod.ts";
import { connectReason } from "./connect_reason.ts";
import {
  connectionKey,
  connectOrLead,
  countSpawn,
  destination,
  loginDeadline,
  suspectConnection,
} from "./connections.ts";
import { DEFAULT_PARAMS, type Endpoint, sshPrefix } from "./params.ts";

const enc = new TextEncoder();
const NL = 10;

function nonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The fixed remote command. It sets `dexp_nl` to a newline (the script is one line, its
 * values' newlines are written as `$dexp_nl`), reads one line, the script, from standard
 * input and runs it;
 * the rest of standard input is left to the user's command. The shell's `read` takes a pipe
 * byte by byte, so it never reads past that line.
 */
export const BOOTSTRAP = "dexp_nl='\n'; IFS= read -r dexp_s && eval \"$dexp_s\"";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A shell word on one line: newlines inside quotes become `$dexp_nl` (set by the bootstrap). */
function lineWord(value: string, what: string): string {
  if (value.includes("\0")) {
    throw new TypeError(`${what} contains a NUL byte, which no shell can pass on: remove it`);
  }
  return quote(value).replaceAll("\n", `'"$dexp_nl"'`);
}

/**
 * Builds the remote script, one line sent on ssh's standard input ahead of the user's (so no
 * value shows in any argv): print the shell's pid (the session id and process-group id) on
 * stderr behind a marker, change directory, export variables, `eval` the user's command in a
 * subshell of the login shell (so bash hosts keep bash semantics), then print its exit status
 * behind an end marker, which tells a command that exited 255 from a lost connection.
 *
 * @param spec The command.
 * @param marker The marker prefix.
 * @param endMarker The end marker prefix.
 * @returns The script, ending with a newline, for {@linkcode BOOTSTRAP}.
 * @throws {TypeError} If a variable name is not a shell name or a value holds a NUL byte.
 */
export function remoteScript(spec: LaunchSpec, marker: string, endMarker = ""): string {
  const command = typeof spec.command === "string" ? spec.command : quoteArgv(spec.command);
  const parts = [
    `printf '${marker}%s\\n' "$$" >&2`,
  ];
  if (spec.cwd !== undefined) parts.push(`cd -- ${lineWord(spec.cwd, "The cwd")} || exit 1`);
  for (const [k, v] of Object.entries(spec.env)) {
    if (!ENV_NAME.test(k)) {
      throw new TypeError(
        `Environment variable name "${k}" is not valid: use letters, digits and '_', not starting with a digit`,
      );
    }
    parts.push(`export ${k}=${lineWord(v, `Environment variable ${k}`)}`);
  }
  parts.push(`(eval ${lineWord(command, "The command")})`);
  if (endMarker) {
    parts.push("dexp_rc=$?", `printf '${endMarker}%s\\n' "$dexp_rc" >&2`, 'exit "$dexp_rc"');
  }
  return parts.join("; ") + "\n";
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(data: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i + pattern.length <= data.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (data[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Takes the marker line out of stderr and reports the pid it carries; then takes out the end
 * mark (end marker + exit status + `\n`, wherever it starts: the command's last line may lack
 * its newline) and reports that status. Only a tail that could start the end mark is held
 * back, never a complete line.
 */
export class MarkerFilter implements StreamFilter {
  readonly #marker: Uint8Array;
  readonly #end: Uint8Array;
  #searching = true;
  #ended = false;
  #held = new Uint8Array(0);
  readonly #onPid: (pid: number | null) => void;
  readonly #onEnd: (status: number) => void;

  /**
   * Makes the filter.
   *
   * @param marker The start marker (a line: marker + pid).
   * @param endMarker The end marker (marker + status + `\n`).
   * @param onPid Called with the pid, or null if the stream ended without the marker.
   * @param onEnd Called with the exit status from the end line.
   */
  constructor(
    marker: string,
    endMarker: string,
    onPid: (pid: number | null) => void,
    onEnd: (status: number) => void,
  ) {
    this.#marker = enc.encode(marker);
    this.#end = enc.encode(endMarker);
    this.#onPid = onPid;
    this.#onEnd = onEnd;
  }

  #isMarker(line: Uint8Array): number | null {
    const m = this.#marker;
    if (line.length <= m.length) return null;
    for (let i = 0; i < m.length; i++) if (line[i] !== m[i]) return null;
    const pid = Number(new TextDecoder().decode(line.subarray(m.length)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }

  /**
   * Takes a chunk.
   *
   * @param chunk The next bytes.
   * @returns What passes on.
   */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#searching) return this.#pushStart(chunk);
    if (this.#ended) return chunk;
    return this.#pushEnd(chunk);
  }

  #pushStart(chunk: Uint8Array): Uint8Array {
    const data = concat(this.#held, chunk);
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== NL) continue;
      const pid = this.#isMarker(data.subarray(start, i));
      if (pid !== null) {
        this.#searching = false;
        this.#held = new Uint8Array(0);
        this.#onPid(pid);
        const before = data.subarray(0, start);
        return concat(before.slice(), this.#pushEnd(data.subarray(i + 1)));
      }
      start = i + 1;
    }
    // Pass complete lines on; hold the partial last line until it is complete.
    this.#held = data.slice(start);
    return data.subarray(0, start);
  }

  #pushEnd(chunk: Uint8Array): Uint8Array {
    const data = concat(this.#held, chunk);
    const end = this.#end;
    const at = indexOf(data, end);
    if (at >= 0) {
      const nl = data.indexOf(NL, at + end.length);
      if (nl < 0) {
        // The end line is not complete yet (or an impostor): hold it, unless it grew too long.
        if (data.length - at > end.length + 12) {
          this.#held = new Uint8Array(0);
          return data;
        }
        this.#held = data.slice(at);
        return data.subarray(0, at);
      }
      const text = new TextDecoder().decode(data.subarray(at + end.length, nl));
      if (/^\d{1,3}$/.test(text)) {
        this.#ended = true;
        this.#held = new Uint8Array(0);
        this.#onEnd(Number(text));
        return concat(data.slice(0, at), data.subarray(nl + 1));
      }
      this.#held = new Uint8Array(0);
      return data;
    }
    // Hold back a tail that could be the start of the end line.
    for (let k = Math.min(end.length - 1, data.length); k > 0; k--) {
      if (indexOf(data.subarray(data.length - k), end.subarray(0, k)) === 0) {
        this.#held = data.slice(data.length - k);
        return data.subarray(0, data.length - k);
      }
    }
    this.#held = new Uint8Array(0);
    return data;
  }

  /**
   * Ends the stream.
   *
   * @returns What was held back.
   */
  flush(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    if (this.#searching) this.#onPid(null);
    return rest;
  }
}

function sshArgs(host: Endpoint, control: readonly string[], logLevel?: string): string[] {
  return sshPrefix(host.params, { extra: [...control], logLevel });
}

/**
 * The remote script that ends a whole session: its process group, then every process of the
 * session (`pkill -s`, or a walk of `/proc/PID/stat` where pkill is missing). A process that
 * left the session (setsid, a daemon) is out of reach.
 *
 * @param sid The session id: the pid of the login shell (sshd made it a session leader).
 * @param signal The signal.
 * @returns A POSIX sh script.
 */
export function killScript(sid: number, signal: Deno.Signal): string {
  if (!Number.isInteger(sid) || sid <= 1) throw new RangeError(`Bad session id: ${sid}`);
  const sig = signal.replace(/^SIG/, "");
  if (!/^[A-Z0-9]+$/.test(sig)) throw new RangeError(`Bad signal: "${signal}"`);
  return [
    `kill -s ${sig} -- -${sid} 2>/dev/null`,
    "if command -v pkill >/dev/null 2>&1",
    `then pkill -${sig} -s ${sid}`,
    "else for f in /proc/[0-9]*/stat",
    'do IFS= read -r s < "$f" 2>/dev/null || continue',
    // The name in parentheses may hold spaces: the fields after the last ") ".
    "s=${s##*) }; set -- $s; p=${f#/proc/}; p=${p%/stat}",
    `[ "$4" = ${sid} ] && kill -s ${sig} "$p" 2>/dev/null`,
    "done",
    "fi",
    "true",
  ].join("\n");
}

/**
 * The local argv that ends a remote session with a signal: one ssh command that runs
 * {@linkcode killScript} on the host. Used by `terminate()`, and usable synchronously at exit.
 *
 * @param ssh The ssh program.
 * @param base The ssh options (connection and control socket).
 * @param dest The destination.
 * @param sid The remote session id.
 * @param signal The signal.
 * @returns The argv, program first.
 */
export function killArgv(
  ssh: string,
  base: readonly string[],
  dest: string,
  sid: number,
  signal: Deno.Signal,
): string[] {
  return [ssh, ...base, "-T", "--", dest, killScript(sid, signal)];
}

/** ssh's own complaints when a connection ends under a running command. */
const LOST =
  /^(Timeout, server .* not responding|Connection to .* closed|Connection closed by|Connection reset|client_loop:|packet_write_wait|Broken pipe|ssh_dispatch_run_fatal|Read from remote host|mux_client)/;

/**
 * Why a connection was lost: ssh's last complaint if it printed one, else what is known.
 *
 * @param stderr Standard error of the command (ssh's complaints come last).
 * @param host The host's name.
 * @param masterLog The log of the shared connection's master, if one was used.
 * @returns The reason.
 */
export function lostReason(stderr: string, host: string, masterLog?: string): string {
  const last = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "").at(-1);
  if (last !== undefined && LOST.test(last)) return last;
  if (masterLog !== undefined) {
    // Over a shared connection the client says nothing: the master logged why.
    let text = "";
    try {
      text = Deno.readTextFileSync(masterLog);
    } catch {
      // No log.
    }
    const why = text.split("\n").map((l) => l.trim()).filter((l) => LOST.test(l)).at(-1);
    if (why !== undefined) return why;
    return `no exit status came from ${host} over the shared connection (ssh exit 255): the connection was lost, or the remote shell was killed`;
  }
  return `no exit status came from ${host} (ssh exit 255): the connection was lost, or the remote shell was killed`;
}

/**
 * Launches a command on a host: sets up (or reuses) the connection, then returns the local
 * `ssh` process to start, with hooks to kill the remote session and to classify ssh's own
 * failures. The script travels on ssh's standard input, ahead of the user's.
 *
 * @param host The host.
 * @param spec The command.
 * @returns The launch.
 * @throws {LaunchError} If the host cannot be reached.
 */
export async function launchRemote(host: Endpoint, spec: LaunchSpec): Promise<Launch> {
  const id = nonce();
  const marker = `DEXP-PGID-${id}:`;
  const endMarker = `DEXP-END-${id}:`;
  const script = enc.encode(remoteScript(spec, marker, endMarker));
  const conn = await connectOrLead(host);
  // The first command to the host sets up its connection (connections.ts, Lead).
  const lead = Array.isArray(conn) ? null : conn;
  const control = lead ? lead.client : conn as string[];
  let dropped = false;
  const p = host.params;
  const ssh = p.ssh ?? DEFAULT_PARAMS.ssh;
  let pgidKnown: (pid: number | null) => void = () => {};
  const pgid = new Promise<number | null>((r) => pgidKnown = r);
  let sid: number | null = null;
  let started = false;
  let stalled = false;
  let loginTimer: ReturnType<typeof setTimeout> | undefined;
  let endStatus: number | null = null;
  const filter = new MarkerFilter(marker, endMarker, (pid) => {
    clearTimeout(loginTimer);
    started = pid !== null;
    sid = pid;
    if (lead) {
      if (pid !== null) lead.up();
      else dropped = lead.ended(stalled);
    }
    pgidKnown(pid);
  }, (status) => endStatus = status);
  // The kill goes over the socket, also while this command's ssh is the master.
  const base = sshArgs(host, control);
  const dest = destination(host);
  const deadline = loginDeadline(p);
  // The argv that ends the remote session now, or null before its id is known: synchronous,
  // for an exit hook as well as for terminate().
  const killFor = (signal: Deno.Signal): string[] | null =>
    sid === null ? null : killArgv(ssh, base, dest, sid, signal);
  return {
    program: ssh,
    args: [
      ...(lead ? sshArgs(host, lead.options, "INFO") : base),
      "-T",
      "--",
      dest,
      BOOTSTRAP,
    ],
    stdinPrefix: script,
    stderrFilter: filter,
    ready: pgid,
    connection: connectionKey(host),
    onSpawn(kill: () => void): void {
      // Over a shared connection the login is done; a connection of its own must have logged
      // in (the remote shell printed its marker) within the deadline, or it is given up.
      countSpawn();
      if ((control.length > 0 && !lead) || started) return;
      loginTimer = setTimeout(() => {
        if (started) return;
        stalled = true;
        kill();
      }, deadline);
    },
    onEnd(code: number | null): boolean {
      // Not started at all: the connection it was to set up is set up on its own.
      if (lead && code === null) lead.ended(false);
      // The host dropped the first command's login before authentication: it never ran.
      return dropped && code === 255;
    },
    killArgv(signal: Deno.Signal): string[] | null {
      return killFor(signal);
    },
    async terminate(signal: Deno.Signal): Promise<void> {
      await pgid;
      const argv = killFor(signal);
      if (argv === null) return;
      const [program, ...args] = argv;
      const child = new Deno.Command(program, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), deadline);
      try {
        await child.status;
      } finally {
        clearTimeout(timer);
      }
    },
    classify(code: number, stderr: string): { failure: FailureKind; reason: string } | null {
      clearTimeout(loginTimer);
      if (stalled) {
        return {
          failure: "connect",
          reason: `ssh did not finish logging in within ${
            deadline / 1000
          } s (raise 'connectTimeout' for slow hosts)`,
        };
      }
      // 255 before the remote shell printed its marker: ssh itself failed.
      if (code === 255 && !started) {
        // The first command's ssh logs its own complaints to the master's log (-E).
        const text = lead ? stderr + lead.logText() : stderr;
        return { failure: "connect", reason: connectReason(text, p, host.address) };
      }
      // 255 after it, and no exit status from the shell: the connection went away.
      if (code === 255 && endStatus !== 255) {
        // Also the first command's, whose ssh was the master: the same log.
        const socket = control.find((o) => o.startsWith("ControlPath="))?.slice(12);
        if (socket) suspectConnection(host);
        return {
          failure: "connection-lost",
          reason: lostReason(stderr, host.name, socket && `${socket}.log`),
        };
      }
      return null;
    },
  };
}
