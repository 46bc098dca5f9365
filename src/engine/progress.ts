/**
 * The live progress display as a pure state machine: events in, frame text out. Only
 * {@linkcode TerminalProgress} touches a terminal.
 *
 * @module
 */

import { formatDuration } from "../process/mod.ts";
import type { RunEvent } from "./events.ts";

interface WorkerState {
  name: string;
  attempt: number;
  last: string;
  /** When the combination's first attempt started (ms since the epoch). */
  since: number;
}

/** What {@linkcode estimateEta} needs: counts and times of a run, and the current time. */
export interface EtaInput {
  /** The current time, ms since the epoch. */
  now: number;
  /** Combinations that finished in this process. */
  finished: number;
  /** Sum of their durations, in ms. */
  finishedDuration: number;
  /** When each combination running now started, ms since the epoch. */
  running: readonly number[];
  /** Combinations not finished yet, the running ones included. */
  remaining: number;
  /** Combinations run at once (at least 1). */
  workers: number;
}

/**
 * Estimates the time left of a run, in ms: every combination is expected to take the mean
 * duration of those finished so far; a running one has already spent its elapsed time, the
 * pending ones share the workers. Between two completions the estimate never grows as time
 * passes. A pure function: the time is an input.
 *
 * @param input Counts, durations, start times of the running combinations, and the time.
 * @returns The estimate, or undefined before the first combination finished.
 * @example
 * ```ts
 * import { estimateEta } from "./progress.ts";
 * import { deepStrictEqual } from "node:assert";
 * const input = { finished: 2, finishedDuration: 2000, remaining: 3, workers: 1 };
 * // One second per combination; the running one started 400 ms ago: 0.6 s + 2 x 1 s.
 * deepStrictEqual(estimateEta({ ...input, now: 10_400, running: [10_000] }), 2600);
 * ```
 */
export function estimateEta(input: EtaInput): number | undefined {
  if (input.finished <= 0) return undefined;
  if (input.remaining <= 0) return 0;
  const mean = input.finishedDuration / input.finished;
  const running = input.running.slice(0, input.remaining);
  const left = running.map((since) => Math.max(0, mean - Math.max(0, input.now - since)));
  const pending = input.remaining - running.length;
  const work = left.reduce((a, b) => a + b, 0) + pending * mean;
  const workers = Math.max(1, input.workers);
  // With as many workers as combinations the longest one bounds the time; otherwise the
  // work is shared.
  return Math.max(left.length ? Math.max(...left) : 0, pending > 0 ? mean : 0, work / workers);
}

/** Options of {@linkcode ProgressModel.render}. */
export interface RenderOptions {
  /** The current time, ms since the epoch. */
  now: number;
  /** Width of the terminal in columns (default 80). */
  width?: number;
  /** Use ANSI colours (default false). */
  color?: boolean;
}

/** The state of the progress display of a run, changed only by {@linkcode ProgressModel.apply}. */
export class ProgressModel {
  /** The experiment being run. */
  experiment = "";
  /** Combinations of the experiment. */
  total = 0;
  /** Finished before this process started. */
  previously = 0;
  /** Succeeded in this process. */
  succeeded = 0;
  /** Failed (after all attempts) in this process. */
  failed = 0;
  /** Combinations that finished in this process. */
  #durations = 0;
  #start = 0;
  #parallel = 1;
  #workers = new Map<number, WorkerState>();

  /**
   * Applies one event.
   *
   * @param e The event.
   */
  apply(e: RunEvent): void {
    switch (e.type) {
      case "experiment-start":
        this.experiment = e.experiment;
        this.total = e.total;
        this.previously = e.finished;
        this.succeeded = 0;
        this.failed = 0;
        this.#durations = 0;
        this.#start = e.at;
        this.#parallel = e.workers;
        this.#workers.clear();
        break;
      case "combo-start": {
        // A restart keeps the start of the combination's first attempt.
        const prev = this.#workers.get(e.worker);
        const since = prev?.name === e.name ? prev.since : e.at;
        this.#workers.set(e.worker, { name: e.name, attempt: e.attempt, last: "", since });
        break;
      }
      case "output": {
        const w = this.#workers.get(e.worker);
        if (w) w.last = e.line;
        break;
      }
      case "combo-end":
        if (e.outcome === "ok") this.succeeded++;
        else this.failed++;
        this.#durations += e.duration;
        this.#workers.delete(e.worker);
        break;
      case "combo-interrupted":
        this.#workers.delete(e.worker);
        break;
      default:
        break;
    }
  }

  /** Combinations not finished yet. */
  get remaining(): number {
    return Math.max(0, this.total - this.previously - this.succeeded - this.failed);
  }

  /**
   * The estimated time left in ms (see {@linkcode estimateEta}): from the durations of the
   * combinations finished in this process and the time already spent by the running ones;
   * undefined before the first one finished.
   *
   * @param now The current time.
   * @returns The estimate.
   */
  eta(now: number): number | undefined {
    return estimateEta({
      now,
      finished: this.succeeded + this.failed,
      finishedDuration: this.#durations,
      running: [...this.#workers.values()].map((w) => w.since),
      remaining: this.remaining,
      workers: this.#parallel,
    });
  }

  /**
   * The frame for the current state: a bar line, then one line per busy worker.
   *
   * @param options Time, width, colours.
   * @returns The lines, joined by `\n`, none longer than the width.
   */
  render(options: RenderOptions): string {
    const width = Math.max(20, options.width ?? 80);
    const c = (code: string, s: string) => options.color ? `\x1b[${code}m${s}\x1b[0m` : s;
    const finished = this.previously + this.succeeded + this.failed;
    const frac = this.total === 0 ? 1 : finished / this.total;
    const barWidth = Math.max(10, Math.min(30, width - 60));
    const filled = Math.round(frac * barWidth);
    const bar = "#".repeat(filled) + "-".repeat(barWidth - filled);
    const eta = this.eta(options.now);
    const before = this.previously > 0 ? `, ${this.previously} before` : "";
    const stats = `${this.succeeded} done, ${this.failed} failed, ${this.remaining} left${before}` +
      `, elapsed ${formatDuration(options.now - this.#start)}, eta ${
        eta === undefined ? "?" : formatDuration(eta)
      }`;
    const head = `${this.experiment} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% `;
    const lines = [fit(head + stats, width)];
    if (options.color) {
      lines[0] = lines[0].replace(/(\d+) failed/, (m, n) => n === "0" ? m : c("31", m));
    }
    for (const [i, w] of [...this.#workers.entries()].sort((a, b) => a[0] - b[0])) {
      const attempt = w.attempt > 1 ? ` (attempt ${w.attempt})` : "";
      const label = `  #${i} ${w.name}${attempt}`;
      const text = w.last ? `${label} | ${w.last}` : label;
      lines.push(fit(text, width));
    }
    return lines.join("\n");
  }
}

function fit(s: string, width: number): string {
  // deno-lint-ignore no-control-regex
  const clean = s.replace(/[\x00-\x1f\x7f]/g, " ");
  return clean.length <= width ? clean : clean.slice(0, width - 1) + "~";
}

/** Draws a {@linkcode ProgressModel} on a terminal, redrawing at most every `interval` ms. */
export class TerminalProgress {
  readonly model: ProgressModel = new ProgressModel();
  #lines = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #color: boolean;
  #out: { writeSync(b: Uint8Array): number };
  #enc = new TextEncoder();

  /**
   * @param out Where to draw (default stderr).
   * @param color Use colours (default: unless `NO_COLOR` is set).
   * @param interval Redraw period in ms.
   */
  constructor(
    out: { writeSync(b: Uint8Array): number } = Deno.stderr,
    color = !Deno.env.get("NO_COLOR"),
    interval = 100,
  ) {
    this.#out = out;
    this.#color = color;
    this.#timer = setInterval(() => this.draw(), interval);
  }

  /**
   * Applies an event; log-worthy lines are printed above the display.
   *
   * @param e The event.
   * @param line A line to print above the display, if any.
   */
  event(e: RunEvent, line?: string): void {
    this.model.apply(e);
    if (line !== undefined) {
      this.#clear();
      this.#write(line + "\n");
      this.#lines = 0;
    }
  }

  #write(s: string): void {
    const b = this.#enc.encode(s);
    let off = 0;
    while (off < b.length) off += this.#out.writeSync(b.subarray(off));
  }

  #clear(): void {
    if (this.#lines > 0) this.#write(`\x1b[${this.#lines}F\x1b[J`);
    else this.#write("\r\x1b[J");
    this.#lines = 0;
  }

  /** Redraws the frame now. */
  draw(): void {
    let width = 80;
    try {
      // A pseudo-terminal whose size was never set (script, some CI runners) reports 0.
      width = Deno.consoleSize().columns || width;
    } catch { /* not a terminal */ }
    const frame = this.model.render({ now: Date.now(), width, color: this.#color });
    this.#clear();
    this.#write(frame);
    this.#lines = frame.split("\n").length - 1;
  }

  /** Draws the last frame and stops redrawing. */
  close(): void {
    clearInterval(this.#timer);
    this.draw();
    this.#write("\n");
  }
}
