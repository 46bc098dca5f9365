/**
 * Setters shared by every command builder (single and group). Builders are immutable: each
 * setter returns a new builder and leaves the old one as it was.
 *
 * @module
 */

import { Lazy } from "./awaitable.ts";
import { type Duration, toMillis } from "./duration.ts";
import type { CommandOptions, LineHandler, OutputSinkFactory, StdinSpec } from "./options.ts";

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`'${what}' must be a positive integer: received ${value}`);
  }
  return value;
}

/**
 * The setters of a command builder; `Self` is the concrete builder type, `R` what awaiting
 * it gives. Awaiting a builder starts it (see {@linkcode Lazy}).
 *
 * @example
 * ```ts
 * import { cmd, local } from "@dexp/dexp";
 * import { OptionsBuilder } from "@dexp/dexp/backend";
 * import { ok, strictEqual } from "node:assert";
 *
 * // One set of setters for a command and a group command; each returns a new builder.
 * ok(cmd("true") instanceof OptionsBuilder);
 * ok(local(2).run("true") instanceof OptionsBuilder);
 * const base = cmd("echo $X");
 * strictEqual(await base.env({ X: "1" }).text(), "1");
 * strictEqual(base.settings.env.X, undefined);
 * ```
 */
export abstract class OptionsBuilder<Self, R> extends Lazy<R> {
  /** The settings held by this builder. */
  protected readonly options: CommandOptions;

  /**
   * Makes a builder holding these settings.
   *
   * @param options The settings.
   */
  protected constructor(options: CommandOptions) {
    super();
    this.options = options;
  }

  /**
   * Makes a copy of this builder with other settings.
   *
   * @param options The new settings.
   */
  protected abstract withOptions(options: CommandOptions): Self;

  #with(change: Partial<CommandOptions>): Self {
    return this.withOptions({ ...this.options, ...change });
  }

  /**
   * Adds environment variables (an `undefined` value removes one set earlier).
   *
   * @param vars Names and values.
   * @returns A new builder.
   */
  env(vars: Record<string, string | number | boolean | undefined>): Self {
    const env: Record<string, string> = { ...this.options.env };
    for (const [k, v] of Object.entries(vars)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        throw new TypeError(
          `Environment variable name '${k}' is not valid: use letters, digits and '_', not starting with a digit`,
        );
      }
      if (v === undefined) delete env[k];
      else env[k] = String(v);
    }
    return this.#with({ env });
  }

  /**
   * Sets the working directory.
   *
   * @param dir The directory (on the host, for a remote command).
   * @returns A new builder.
   */
  cwd(dir: string): Self {
    return this.#with({ cwd: dir });
  }

  /**
   * Sets standard input: `"piped"` to write from the running handle, `"inherit"`, `"null"`,
   * or data (a string, bytes, or lines) written and then closed.
   *
   * @param input The input.
   * @returns A new builder.
   */
  stdin(input: StdinSpec): Self {
    return this.#with({ stdin: input });
  }

  /**
   * Stops the command after a while: SIGTERM, then SIGKILL after the grace period. The
   * command then fails with a `TimeoutError` (or resolves with `timedOut` under `noThrow`).
   *
   * @param duration Milliseconds or text like `"30s"`; `undefined` removes the timeout.
   * @returns A new builder.
   */
  timeout(duration: Duration | undefined): Self {
    return this.#with({
      timeout: duration === undefined ? undefined : toMillis(duration, "timeout"),
    });
  }

  /**
   * Sets the time between SIGTERM and SIGKILL when the command is stopped (default 2 s).
   *
   * @param duration Milliseconds or text like `"5s"`.
   * @returns A new builder.
   */
  killGrace(duration: Duration): Self {
    return this.#with({ killGrace: toMillis(duration, "killGrace") });
  }

  /**
   * Resolves with the result instead of rejecting when the command fails.
   *
   * @param value Whether to resolve on failure (default true).
   * @returns A new builder.
   */
  noThrow(value = true): Self {
    return this.#with({ noThrow: value });
  }

  /**
   * Stops copying output to the console (it is still captured and sent to handlers and
   * files).
   *
   * @param value Whether to be quiet (default true).
   * @returns A new builder.
   */
  quiet(value = true): Self {
    return this.#with({ quiet: value });
  }

  /**
   * Sets the prefix of console output lines (groups default to `[host] `).
   *
   * @param prefix The prefix.
   * @returns A new builder.
   */
  prefix(prefix: string): Self {
    return this.#with({ prefix });
  }

  /**
   * Calls `handler` with every line of standard output as it arrives.
   *
   * @param handler Receives the line and where it came from.
   * @returns A new builder.
   */
  onStdout(handler: LineHandler): Self {
    return this.#with({ stdoutHandlers: [...this.options.stdoutHandlers, handler] });
  }

  /**
   * Calls `handler` with every line of standard error as it arrives.
   *
   * @param handler Receives the line and where it came from.
   * @returns A new builder.
   */
  onStderr(handler: LineHandler): Self {
    return this.#with({ stderrHandlers: [...this.options.stderrHandlers, handler] });
  }

  /**
   * Writes standard output to a file as it arrives (parent folders are created).
   * `{host}` and `{i}` in the path are filled per target.
   *
   * @param path The file.
   * @param options `append: true` to append instead of truncating.
   * @returns A new builder.
   */
  stdoutFile(path: string, options: { append?: boolean } = {}): Self {
    const sink = { path, append: options.append ?? false };
    return this.#with({ stdoutFiles: [...this.options.stdoutFiles, sink] });
  }

  /**
   * Writes standard error to a file as it arrives (parent folders are created).
   * `{host}` and `{i}` in the path are filled per target.
   *
   * @param path The file.
   * @param options `append: true` to append instead of truncating.
   * @returns A new builder.
   */
  stderrFile(path: string, options: { append?: boolean } = {}): Self {
    const sink = { path, append: options.append ?? false };
    return this.#with({ stderrFiles: [...this.options.stderrFiles, sink] });
  }

  /**
   * Sets how many bytes of each stream are kept in memory (half from the start, half from
   * the end; the rest is counted and dropped). Default 1 MiB.
   *
   * @param bytes The limit.
   * @returns A new builder.
   */
  captureLimit(bytes: number): Self {
    return this.#with({ captureLimit: positiveInt(bytes, "captureLimit") });
  }

  /**
   * Sets the longest line (in bytes) given whole to line handlers, the console and
   * `expect()` (default 1 MiB), so that memory stays bounded whatever the output. A longer
   * line is cut: handlers get its first `bytes` bytes with `info.cut` true, and the rest of
   * it is skipped (files, sinks and the capture still get every byte).
   *
   * @param bytes The limit.
   * @returns A new builder.
   */
  maxLineBytes(bytes: number): Self {
    return this.#with({ maxLineBytes: positiveInt(bytes, "maxLineBytes") });
  }

  /**
   * Sends the raw bytes of standard output and standard error, chunk by chunk as they
   * arrive, to a sink that `factory` makes for each stream of each process. Nothing is
   * split into lines for it: this is the fast way to store or forward large output.
   *
   * @param factory Makes the sink of one stream; `info` says which target and stream.
   * @returns A new builder.
   */
  onOutput(factory: OutputSinkFactory): Self {
    return this.#with({ outputSinks: [...this.options.outputSinks, factory] });
  }
}
