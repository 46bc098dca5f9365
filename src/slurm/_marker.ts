/**
 * Takes a marker line out of a byte stream and reports the value it carries: the remote
 * shell prints the Slurm step id behind a random marker on stderr before the command starts.
 *
 * @module
 */

import type { StreamFilter } from "../process/mod.ts";

const NL = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A random marker: a user's output never contains it by chance. */
export function newMarker(prefix: string): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return `${prefix}-${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}:`;
}

/** Filters the first line that starts with the marker out of the stream. */
export class MarkerFilter implements StreamFilter {
  readonly #marker: Uint8Array;
  readonly #onValue: (value: string | null) => void;
  #searching = true;
  #held = new Uint8Array(0);

  /**
   * @param marker The marker.
   * @param onValue Called once: with the text after the marker, or null at the end of the
   *   stream when no marker came.
   */
  constructor(marker: string, onValue: (value: string | null) => void) {
    this.#marker = enc.encode(marker);
    this.#onValue = onValue;
  }

  #value(line: Uint8Array): string | null {
    const m = this.#marker;
    if (line.length < m.length) return null;
    for (let i = 0; i < m.length; i++) if (line[i] !== m[i]) return null;
    return dec.decode(line.subarray(m.length)).trim();
  }

  push(chunk: Uint8Array): Uint8Array {
    if (!this.#searching) return chunk;
    const data = new Uint8Array(this.#held.length + chunk.length);
    data.set(this.#held);
    data.set(chunk, this.#held.length);
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== NL) continue;
      const value = this.#value(data.subarray(start, i));
      if (value !== null) {
        this.#searching = false;
        this.#held = new Uint8Array(0);
        this.#onValue(value);
        const out = new Uint8Array(start + data.length - i - 1);
        out.set(data.subarray(0, start));
        out.set(data.subarray(i + 1), start);
        return out;
      }
      start = i + 1;
    }
    this.#held = data.slice(start);
    return data.subarray(0, start);
  }

  flush(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    if (this.#searching) {
      this.#searching = false;
      this.#onValue(null);
    }
    return rest;
  }
}
