/**
 * The connect window: how many logins may be under way at once, adapted to what the hosts
 * accept. sshd drops new logins beyond `MaxStartups` unauthenticated ones, so a burst of
 * logins can lose some: each dropped login halves the window (once per burst: the logins
 * started before the last decrease do not halve it again), each login that succeeds grows it
 * back by one over a window's worth of successes (additive increase, multiplicative decrease,
 * like TCP's congestion window), never past the configured `connectWindow`.
 *
 * @module
 */

/** How a login ended, as far as the window cares. */
export type LoginOutcome = "ok" | "dropped" | "failed";

/** A place in the window, given back with {@linkcode ConnectWindow.release}. */
export interface WindowTicket {
  /** The window's decrease count when the place was taken. */
  readonly epoch: number;
}

/** Counters of a connect window, for tests and benchmarks. */
export interface ConnectWindowStats {
  /** The configured most (`connectWindow`). */
  readonly ceiling: number;
  /** How many logins may be under way now. */
  readonly limit: number;
  /** The smallest the limit has been. */
  readonly smallest: number;
  /** How many times a dropped login shrank it. */
  readonly shrinks: number;
}

/** A window of logins whose size adapts to dropped logins (AIMD). */
export class ConnectWindow {
  readonly #ceiling: number;
  #limit: number;
  #smallest: number;
  #shrinks = 0;
  #epoch = 0;
  #active = 0;
  readonly #queue: ((t: WindowTicket) => void)[] = [];

  /**
   * Makes a window.
   *
   * @param ceiling The most logins at once (`connectWindow`), a positive integer.
   * @throws {RangeError} If ceiling is not a positive integer.
   */
  constructor(ceiling: number) {
    if (!Number.isInteger(ceiling) || ceiling <= 0) {
      throw new RangeError(`'connectWindow' must be a positive integer: received ${ceiling}`);
    }
    this.#ceiling = ceiling;
    this.#limit = ceiling;
    this.#smallest = ceiling;
  }

  /** How many logins may be under way now (at least 1). */
  get limit(): number {
    return Math.max(1, Math.floor(this.#limit));
  }

  /** The counters. */
  get stats(): ConnectWindowStats {
    return {
      ceiling: this.#ceiling,
      limit: this.limit,
      smallest: this.#smallest,
      shrinks: this.#shrinks,
    };
  }

  /**
   * Waits for a place.
   *
   * @returns The ticket to give back with the login's outcome.
   */
  acquire(): Promise<WindowTicket> {
    if (this.#active < this.limit && this.#queue.length === 0) {
      this.#active++;
      return Promise.resolve({ epoch: this.#epoch });
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /**
   * Gives a place back, with how the login ended: a drop shrinks the window (unless the
   * window shrank since the login started), a success grows it.
   *
   * @param ticket What {@linkcode acquire} gave.
   * @param outcome How the login ended.
   */
  release(ticket: WindowTicket, outcome: LoginOutcome): void {
    this.#active--;
    if (outcome === "dropped" && ticket.epoch === this.#epoch) {
      this.#limit = Math.max(1, Math.floor(this.#limit / 2));
      this.#epoch++;
      this.#shrinks++;
      if (this.#limit < this.#smallest) this.#smallest = this.#limit;
    } else if (outcome === "ok" && this.#limit < this.#ceiling) {
      this.#limit = Math.min(this.#ceiling, this.#limit + 1 / Math.floor(this.#limit));
    }
    while (this.#active < this.limit && this.#queue.length > 0) {
      this.#active++;
      this.#queue.shift()!({ epoch: this.#epoch });
    }
  }
}
