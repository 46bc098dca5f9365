/**
 * The one awaitable protocol of dexp. Every running handle (a process, a group, a composite,
 * a detached job) has `result()` (never rejects), `wait()` (rejects when it failed) and
 * `kill()`; the ones that run in this program are also awaitable (`then` = `wait`). Every
 * lazy builder (a command, a group command, a composite) is awaitable by starting itself:
 * `then` = `start().then`. The rules are written here once; each class only says how it
 * starts, what its result is and which error a failed result means.
 *
 * @module
 */

/**
 * Something that runs (or ran) and ends with a result `R`. `O` is the type of the options
 * that `result()` and `wait()` take (polling settings for detached jobs).
 *
 * @example
 * ```ts
 * import { Settled } from "@dexp/dexp/backend";
 * import { rejects, strictEqual } from "node:assert";
 *
 * // A handle only says what its result is and which error a failed result means.
 * class Coin extends Settled<number> {
 *   constructor(readonly value: number) {
 *     super();
 *   }
 *   result(): Promise<number> {
 *     return Promise.resolve(this.value);
 *   }
 *   kill(): Promise<void> {
 *     return Promise.resolve();
 *   }
 *   protected failureOf(r: number): Error | undefined {
 *     return r === 0 ? new Error("tails") : undefined;
 *   }
 * }
 * strictEqual(await new Coin(1).wait(), 1);
 * strictEqual(await new Coin(0).result(), 0); // result() never rejects
 * await rejects(new Coin(0).wait(), /tails/);
 * ```
 */
export abstract class Settled<R, O = undefined> {
  /**
   * The result, once it has ended; never rejects for its own failure.
   *
   * @param options How to wait (for handles that poll).
   * @returns The result.
   */
  abstract result(options?: O): Promise<R>;

  /**
   * Ends it (and everything it started).
   *
   * @param signal The first signal.
   * @returns Resolves when it has ended.
   */
  abstract kill(signal?: Deno.Signal): Promise<unknown>;

  /**
   * The error that a result means, or undefined when the result is a success (or when the
   * caller asked not to throw).
   *
   * @param result The result.
   * @returns The error to reject with, or undefined.
   */
  protected abstract failureOf(result: R): Error | undefined;

  /**
   * Waits for the end; rejects with the error the result means when it failed.
   *
   * @param options How to wait (for handles that poll).
   * @returns The result.
   */
  async wait(options?: O): Promise<R> {
    const r = await this.result(options);
    const error = this.failureOf(r);
    if (error) throw error;
    return r;
  }
}

/**
 * A handle of something running in this program: awaiting it is `wait()`. (Detached jobs
 * are {@linkcode Settled} but not awaitable, so that an async function can return one.)
 *
 * @example
 * ```ts
 * import { cmd, RunningProcess } from "@dexp/dexp";
 * import { Running } from "@dexp/dexp/backend";
 * import { ok, strictEqual } from "node:assert";
 *
 * const p = cmd("echo hi").quiet().spawn();
 * ok(p instanceof RunningProcess && p instanceof Running);
 * strictEqual((await p).text(), "hi"); // awaiting a running handle is wait()
 * ```
 */
export abstract class Running<R> extends Settled<R> implements PromiseLike<R> {
  /**
   * Makes the handle awaitable: the same as `wait().then(...)`.
   *
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the error.
   * @returns A promise of what the callbacks return.
   */
  then<A = R, B = never>(
    onfulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.wait().then(onfulfilled, onrejected);
  }
}

/**
 * Something not started yet. Awaiting it starts it and waits: each await runs it again.
 *
 * @example
 * ```ts
 * import { cmd } from "@dexp/dexp";
 * import { Lazy } from "@dexp/dexp/backend";
 * import { ok, strictEqual } from "node:assert";
 *
 * const c = cmd("echo again").quiet();
 * ok(c instanceof Lazy);
 * strictEqual((await c).text(), "again"); // each await runs it
 * strictEqual((await c).text(), "again");
 * ```
 */
export abstract class Lazy<R> implements PromiseLike<R> {
  /**
   * Starts it, for an await.
   *
   * @returns The running handle.
   */
  protected abstract start(): Running<R>;

  /**
   * Runs it: awaiting a lazy builder runs it. The same as `start().then(...)`.
   *
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the error.
   * @returns A promise of what the callbacks return.
   */
  then<A = R, B = never>(
    onfulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.start().then(onfulfilled, onrejected);
  }
}
