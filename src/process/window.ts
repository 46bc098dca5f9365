/**
 * A bounded window of concurrent work.
 *
 * @module
 */

/** Lets at most `size` holders in at once; the others wait in order. */
export class Window {
  readonly #size: number;
  #active = 0;
  #peak = 0;
  readonly #queue: (() => void)[] = [];

  /**
   * Makes a window.
   *
   * @param size How many may hold a place at once (`Infinity` for no limit).
   * @throws {RangeError} If size is not a positive integer or Infinity.
   */
  constructor(size: number) {
    if (size !== Infinity && (!Number.isInteger(size) || size <= 0)) {
      throw new RangeError(
        `'concurrency' must be a positive integer or Infinity: received ${size}`,
      );
    }
    this.#size = size;
  }

  /** The most places held at once so far. */
  get peak(): number {
    return this.#peak;
  }

  /**
   * Waits for a place.
   *
   * @returns Resolves when the caller holds a place; call `release()` after.
   */
  acquire(): Promise<void> {
    if (this.#active < this.#size) {
      this.#active++;
      if (this.#active > this.#peak) this.#peak = this.#active;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /** Gives a place back to the next waiter. */
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#active--;
  }

  /**
   * Runs `fn` while holding a place.
   *
   * @param fn The work.
   * @returns What `fn` returns.
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
