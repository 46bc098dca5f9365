/**
 * Running a command on a host through the system `ssh`: the remote wrapper, the marker that
 * tells the remote process group, remote kill, and classification of ssh's failures.
 *
 * @module
 */

import { quote } from "../process/quote.ts";
import type { FailureKind } from "../process/result.ts";
import type { Launch, LaunchSpec, StreamFilter } from "../process/target.ts";
import { quoteArgv } from "../process/quote.ts";
import { connect, connectionKey, destination, loginDeadline, sshReason } from "./connections.ts";
import type { Host } from "./host.ts";
import { commonOptions, DEFAULT_PARAMS } from "./params.ts";

const enc = new TextEncoder();
const NL = 10;

function nonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds the remote script: print the shell's pid (the session's process-group id) on
 * stderr behind a marker, change directory, export variables, then `eval` the user's
 * command in the login shell, so that bash hosts keep bash semantics.
 *
 * @param spec The command.
 * @param marker The marker prefix.
 * @returns The script, for `ssh host SCRIPT`.
 */
export function remoteScript(spec: LaunchSpec, marker: string): string {
  const command = typeof spec.command === "string" ? spec.command : quoteArgv(spec.command);
  const parts = [`printf '${marker}%s\\n' "$$" >&2`];
  if (spec.cwd !== undefined) parts.push(`cd -- ${quote(spec.cwd)} || exit 1`);
  for (const [k, v] of Object.entries(spec.env)) parts.push(`export ${k}=${quote(v)}`);
  parts.push(`eval ${quote(command)}`);
  return parts.join("\n");
}

/** Takes the marker line out of stderr and reports the pid it carries. */
class MarkerFilter implements StreamFilter {
  readonly #marker: Uint8Array;
  #searching = true;
  #held = new Uint8Array(0);
  readonly #onPid: (pid: number | null) => void;

  constructor(marker: string, onPid: (pid: number | null) => void) {
    this.#marker = enc.encode(marker);
    this.#onPid = onPid;
  }

  #isMarker(line: Uint8Array): number | null {
    const m = this.#marker;
    if (line.length <= m.length) return null;
    for (let i = 0; i < m.length; i++) if (line[i] !== m[i]) return null;
    const pid = Number(new TextDecoder().decode(line.subarray(m.length)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }

  push(chunk: Uint8Array): Uint8Array {
    if (!this.#searching) return chunk;
    const data = new Uint8Array(this.#held.length + chunk.length);
    data.set(this.#held);
    data.set(chunk, this.#held.length);
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== NL) continue;
      const pid = this.#isMarker(data.subarray(start, i));
      if (pid !== null) {
        this.#searching = false;
        this.#held = new Uint8Array(0);
        this.#onPid(pid);
        const before = data.subarray(0, start);
        const after = data.subarray(i + 1);
        const out = new Uint8Array(before.length + after.length);
        out.set(before);
        out.set(after, before.length);
        return out;
      }
      start = i + 1;
    }
    // Pass complete lines on; hold the partial last line until it is complete.
    this.#held = data.slice(start);
    return data.subarray(0, start);
  }

  flush(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    if (this.#searching) this.#onPid(null);
    return rest;
  }
}

function sshArgs(host: Host, control: string[]): string[] {
  const p = host.params;
  return [...commonOptions(p), ...(p.port ? ["-p", String(p.port)] : []), ...control];
}

/**
 * Launches a command on a host: sets up (or reuses) the connection, then returns the local
 * `ssh` process to start, with hooks to kill the remote process group and to classify ssh's
 * own failures.
 *
 * @param host The host.
 * @param spec The command.
 * @returns The launch.
 * @throws {LaunchError} If the host cannot be reached.
 */
export async function launchRemote(host: Host, spec: LaunchSpec): Promise<Launch> {
  const control = await connect(host);
  const p = host.params;
  const ssh = p.ssh ?? DEFAULT_PARAMS.ssh;
  const marker = `DEXP-PGID-${nonce()}:`;
  let pgidKnown: (pid: number | null) => void = () => {};
  const pgid = new Promise<number | null>((r) => pgidKnown = r);
  let started = false;
  let knownPid: number | null = null;
  let stalled = false;
  let loginTimer: ReturnType<typeof setTimeout> | undefined;
  const filter = new MarkerFilter(marker, (pid) => {
    clearTimeout(loginTimer);
    started = pid !== null;
    knownPid = pid;
    pgidKnown(pid);
  });
  const base = sshArgs(host, control);
  const dest = destination(host);
  const deadline = loginDeadline(p);
  const killArgv = (pid: number, signal: Deno.Signal) => [
    ssh,
    ...base,
    "-T",
    dest,
    remoteKillCommand(pid, signal),
  ];
  return {
    program: ssh,
    args: [...base, "-T", dest, remoteScript(spec, marker)],
    stderrFilter: filter,
    connection: connectionKey(host),
    onSpawn(kill: () => void): void {
      // Over a shared connection the login is done; a connection of its own must have logged
      // in (the remote shell printed its marker) within the deadline, or it is given up.
      if (control.length > 0 || started) return;
      loginTimer = setTimeout(() => {
        if (started) return;
        stalled = true;
        kill();
      }, deadline);
    },
    killArgv(signal: Deno.Signal): string[] | null {
      return knownPid === null ? null : killArgv(knownPid, signal);
    },
    async terminate(signal: Deno.Signal): Promise<void> {
      const pid = await pgid;
      if (pid === null) return;
      const [program, ...args] = killArgv(pid, signal);
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
      if (code === 255 && !started) return { failure: "connect", reason: sshReason(stderr) };
      return null;
    },
  };
}

/**
 * The remote command that sends a signal to a remote command, given the pid its shell
 * printed behind the marker.
 *
 * @param pid The remote shell's pid (its process group).
 * @param signal The signal.
 * @returns A shell line for `ssh host LINE`.
 */
export function remoteKillCommand(pid: number, signal: Deno.Signal): string {
  return `kill -s ${signal.replace(/^SIG/, "")} -- -${pid} 2>/dev/null; true`;
}
