/**
 * Stops every running process when this program is interrupted (Ctrl-C, SIGTERM, SIGHUP).
 *
 * A terminal's Ctrl-C reaches local children by itself, but not remote commands, nor
 * anything when the signal is sent to this program alone (SIGTERM from a batch system).
 * While any process is running, dexp listens for these signals, stops them all (remote ones
 * too), then exits with 128 + the signal number. With nothing running, the default behaviour
 * is back.
 *
 * @module
 */

/** Something that can be stopped on interrupt. */
export interface Stoppable {
  /** Stops it; resolves when it is gone. */
  interrupt(): Promise<void>;
  /** Last resort, synchronous: SIGKILL to the local process tree. */
  forceKill(): void;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
const INTERRUPT_DEADLINE = 5000;
const live = new Set<Stoppable>();
const listeners = new Map<Deno.Signal, () => void>();
let interrupting = false;
let handling = true;

/**
 * Turns dexp's own handling of SIGINT, SIGTERM and SIGHUP on or off. An application that
 * stops its work itself on these signals (as `dexp run` does, to record the interruption
 * before exiting) turns it off, and must then kill its running processes.
 *
 * @param on Whether dexp stops every running process and exits on these signals.
 * @returns The previous setting.
 *
 * @example
 * ```ts
 * import { handleSignals } from "@dexp/dexp";
 * const previous = handleSignals(false);
 * // ... own SIGINT handling ...
 * handleSignals(previous);
 * ```
 */
export function handleSignals(on: boolean): boolean {
  const previous = handling;
  handling = on;
  if (!on) uninstall();
  else if (live.size > 0 && listeners.size === 0) install();
  return previous;
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
  if (interrupting) {
    for (const p of live) p.forceKill();
    Deno.exit(code);
  }
  interrupting = true;
  console.error(`dexp: ${name}: stopping ${live.size} running process(es)`);
  const all = Promise.allSettled([...live].map((p) => p.interrupt()));
  const deadline = new Promise((r) => setTimeout(r, INTERRUPT_DEADLINE));
  Promise.race([all, deadline]).then(() => {
    for (const p of live) p.forceKill();
    Deno.exit(code);
  });
}

/**
 * Registers a running process.
 *
 * @param p The process.
 */
export function track(p: Stoppable): void {
  if (handling && listeners.size === 0) install();
  live.add(p);
}

/**
 * Unregisters a finished process.
 *
 * @param p The process.
 */
export function untrack(p: Stoppable): void {
  live.delete(p);
  if (live.size === 0 && !interrupting) uninstall();
}
