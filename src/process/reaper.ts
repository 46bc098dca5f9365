/**
 * Ends every process this program started when the program ends: at a normal end, on an
 * uncaught error, and when it is interrupted (Ctrl-C, SIGTERM, SIGHUP).
 *
 * A terminal's Ctrl-C reaches local children by itself, but not remote commands, nor
 * anything when the signal is sent to this program alone (SIGTERM from a batch system).
 * While any process is running or anything is left to clean up (shared connections), dexp
 * listens for these signals, stops every process (remote ones too), then exits with 128 + the
 * signal number. A second signal escalates: SIGKILL of every process, here and remotely. With
 * nothing running and nothing to clean up, the default behaviour is back.
 *
 * When the program ends (including `Deno.exit()` and an uncaught error), one background shell
 * kills the remote commands still running over their connections, then runs the cleanup steps
 * registered with {@linkcode onExit} (closing shared connections).
 *
 * @module
 */

import { quoteArgv } from "./quote.ts";

/** Something that can be stopped on interrupt. */
export interface Stoppable {
  /** Stops it; resolves when it is gone. */
  interrupt(): Promise<void>;
  /** Last resort, synchronous: SIGKILL to the local process tree. */
  forceKill(): void;
  /**
   * The argv of a local program that sends `signal` to what this runs elsewhere (a remote
   * command), or null if there is nothing to kill there or it is not known yet.
   */
  remoteKillArgv?(signal: Deno.Signal): string[] | null;
  /** Identity of the shared connection it uses: closing that connection stops it first. */
  readonly connection?: string;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
const INTERRUPT_DEADLINE = 5000;
/** Most time a remote kill may take (a host that stalls must not hang the exit). */
const REMOTE_KILL_DEADLINE = 10;
const live = new Set<Stoppable>();
const exitSteps = new Set<() => string>();
const listeners = new Map<Deno.Signal, () => void>();
let interrupts = 0;
let handling = true;
let exitHooked = false;
let exited = false;

/**
 * Turns dexp's own handling of SIGINT, SIGTERM and SIGHUP on or off. An application that
 * stops its work itself on these signals (as `dexp run` does, to record the interruption
 * before exiting) turns it off, and must then kill its running processes (see
 * {@linkcode killEverything} for a second interrupt).
 *
 * @param on Whether dexp stops every running process and exits on these signals.
 * @returns The previous setting.
 *
 * @example
 * ```ts
 * import { handleSignals } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 * const previous = handleSignals(false);
 * // ... own SIGINT handling ...
 * strictEqual(handleSignals(previous), false); // returns the setting it replaced
 * ```
 */
export function handleSignals(on: boolean): boolean {
  const previous = handling;
  handling = on;
  if (!on) uninstall();
  else maybeInstall();
  return previous;
}

function maybeInstall(): void {
  if (handling && listeners.size === 0 && (live.size > 0 || exitSteps.size > 0)) install();
}

function install(): void {
  if (Deno.build.os === "windows") return;
  for (const name of Object.keys(SIGNALS) as Deno.Signal[]) {
    const fn = () => onSignal(name);
    listeners.set(name, fn);
    Deno.addSignalListener(name, fn);
  }
}

function uninstall(): void {
  for (const [name, fn] of listeners) Deno.removeSignalListener(name, fn);
  listeners.clear();
}

function onSignal(name: Deno.Signal): void {
  const code = 128 + SIGNALS[name];
  interrupts++;
  if (interrupts > 2) Deno.exit(code);
  if (interrupts === 2) {
    console.error(`dexp: ${name} again: killing ${live.size} running process(es) (SIGKILL)`);
    killEverything().finally(() => Deno.exit(code));
    return;
  }
  if (live.size > 0) console.error(`dexp: ${name}: stopping ${live.size} running process(es)`);
  const all = Promise.allSettled([...live].map((p) => p.interrupt()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise((r) => timer = setTimeout(r, INTERRUPT_DEADLINE));
  Promise.race([all, deadline]).then(() => {
    clearTimeout(timer);
    if (interrupts > 1) return; // The second signal finishes the job.
    for (const p of live) p.forceKill();
    Deno.exit(code);
  });
}

async function runWithDeadline(argv: string[], seconds: number): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, seconds * 1000);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SIGKILLs every running process: local process trees at once, remote commands over their
 * connections. Used on a second interrupt, instead of abandoning the processes.
 *
 * @returns Resolves when the remote kills are done (or their deadline passed).
 *
 * @example
 * ```ts
 * import { cmd, killEverything } from "@dexp/dexp";
 * import { strictEqual } from "node:assert";
 * const p = cmd("echo up; sleep 60").quiet().noThrow().spawn();
 * await p.expect("up");
 * await killEverything(); // every process dexp started, local and remote
 * strictEqual((await p).signal, "SIGKILL");
 * ```
 */
export async function killEverything(): Promise<void> {
  const remote: string[][] = [];
  for (const p of live) {
    const argv = p.remoteKillArgv?.("SIGKILL");
    if (argv) remote.push(argv);
    p.forceKill();
  }
  await Promise.all(remote.map((a) => runWithDeadline(a, REMOTE_KILL_DEADLINE)));
}

/**
 * Stops the running processes that `select` picks (each as `kill()` does: TERM, then KILL
 * after its grace period).
 *
 * @param select Which processes.
 * @returns How many were stopped.
 */
export async function stopTracked(select: (p: Stoppable) => boolean): Promise<number> {
  const chosen = [...live].filter(select);
  await Promise.allSettled(chosen.map((p) => p.interrupt()));
  return chosen.length;
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  globalThis.addEventListener("unload", () => atExit());
  // An uncaught error ends the program without an `unload` event.
  globalThis.addEventListener("error", (e) => {
    if (!e.defaultPrevented) atExit();
  });
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (!e.defaultPrevented) atExit();
  });
}

/**
 * A shell function that runs a command and SIGKILLs it after a deadline; its watchdog leaves
 * no `sleep` behind when the command ends first.
 */
const DEADLINE_FN = `deadline() { "$@" & p=$!; (trap 'kill $s 2>/dev/null; exit 0' TERM; ` +
  `sleep ${REMOTE_KILL_DEADLINE} & s=$!; wait $s; kill -9 $p) >/dev/null 2>&1 & w=$!; ` +
  `wait $p; kill $w 2>/dev/null; }`;

function atExit(): void {
  if (exited) return;
  exited = true;
  const lines: string[] = [];
  for (const p of live) {
    const term = p.remoteKillArgv?.("SIGTERM");
    const kill = p.remoteKillArgv?.("SIGKILL");
    p.forceKill();
    if (term && kill) {
      lines.push(`{ deadline ${quoteArgv(term)}; sleep 1; deadline ${quoteArgv(kill)}; } &`);
    }
  }
  if (lines.length > 0) lines.unshift(DEADLINE_FN);
  lines.push("wait");
  for (const step of exitSteps) {
    try {
      lines.push(step());
    } catch {
      // A step that cannot say what to do does nothing.
    }
  }
  if (lines.length === 1) return;
  try {
    // Synchronous context: one background shell, which outlives this program.
    new Deno.Command("/bin/sh", {
      args: ["-c", lines.join("\n")],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn().unref();
  } catch {
    // Nothing more can be done at exit.
  }
}

/**
 * Registers a cleanup step for the end of the program: a shell script, asked for at that
 * moment, run after the remote commands still running have been killed. While a step is
 * registered, signals are handled (so that the step runs on Ctrl-C too).
 *
 * @param step Returns the shell script.
 * @returns A function that unregisters the step.
 */
export function onExit(step: () => string): () => void {
  hookExit();
  exitSteps.add(step);
  maybeInstall();
  return () => {
    exitSteps.delete(step);
    if (live.size === 0 && exitSteps.size === 0 && interrupts === 0) uninstall();
  };
}

/**
 * Registers a running process.
 *
 * @param p The process.
 */
export function track(p: Stoppable): void {
  hookExit();
  live.add(p);
  maybeInstall();
}

/**
 * Unregisters a finished process.
 *
 * @param p The process.
 */
export function untrack(p: Stoppable): void {
  live.delete(p);
  if (live.size === 0 && exitSteps.size === 0 && interrupts === 0) uninstall();
}
