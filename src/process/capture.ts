/**
 * Bounded capture of a byte stream: keeps the head and the tail, counts what was dropped.
 *
 * @module
 */

// Keeps a leading U+FEFF (byte order mark): it is part of the output.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Default number of bytes kept per stream (half head, half tail). */
export const DEFAULT_CAPTURE_LIMIT = 1024 * 1024;

/** Keeps at most `limit` bytes of a stream: the first half and the last half. */
export class BoundedCapture {
  readonly #headLimit: number;
  readonly #tailLimit: number;
  #head: Uint8Array[] = [];
  #headSize = 0;
  #tail: Uint8Array[] = [];
  #tailSize = 0;
  #total = 0;

  /**
   * Makes an empty capture.
   *
   * @param limit The most bytes kept in memory.
   */
  constructor(limit: number = DEFAULT_CAPTURE_LIMIT) {
    this.#headLimit = Math.ceil(limit / 2);
    this.#tailLimit = Math.floor(limit / 2);
  }

  /** Total bytes seen. */
  get total(): number {
    return this.#total;
  }

  /** Bytes seen but not kept. */
  get dropped(): number {
    return this.#total - this.#headSize - Math.min(this.#tailSize, this.#tailLimit);
  }

  /**
   * Adds a chunk.
   *
   * @param chunk The bytes, which the capture may keep: do not reuse the buffer.
   */
  push(chunk: Uint8Array): void {
    this.#total += chunk.length;
    if (this.#headSize < this.#headLimit) {
      const take = Math.min(chunk.length, this.#headLimit - this.#headSize);
      this.#head.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      this.#headSize += take;
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return;
    }
    if (this.#tailLimit === 0) return;
    if (chunk.length >= this.#tailLimit) {
      this.#tail = [chunk.slice(chunk.length - this.#tailLimit)];
      this.#tailSize = this.#tailLimit;
      return;
    }
    this.#tail.push(chunk);
    this.#tailSize += chunk.length;
    while (this.#tailSize - this.#tail[0].length >= this.#tailLimit) {
      this.#tailSize -= this.#tail.shift()!.length;
    }
    if (this.#tail.length > 64) this.#compactTail();
  }

  #compactTail(): void {
    const all = concat(this.#tail);
    const keep = all.subarray(Math.max(0, all.length - this.#tailLimit));
    this.#tail = [keep];
    this.#tailSize = keep.length;
  }

  /**
   * The most recent bytes kept, in order: everything seen when nothing was dropped (`whole`
   * true), else the tail (which may start in the middle of a line).
   *
   * @returns The bytes, and whether they are the whole stream.
   */
  recent(): { bytes: Uint8Array; whole: boolean } {
    if (this.dropped === 0) return { bytes: concat([...this.#head, ...this.#tail]), whole: true };
    let tail = concat(this.#tail);
    if (tail.length > this.#tailLimit) tail = tail.subarray(tail.length - this.#tailLimit);
    return { bytes: tail, whole: false };
  }

  /**
   * Decodes what was kept as UTF-8; a marker line stands where bytes were dropped.
   *
   * @returns The captured text.
   */
  text(): string {
    if (this.#total === 0) return "";
    const head = decoder.decode(concat(this.#head));
    if (this.#tail.length === 0) return head;
    let tail = concat(this.#tail);
    if (tail.length > this.#tailLimit) tail = tail.subarray(tail.length - this.#tailLimit);
    const dropped = this.dropped;
    if (dropped === 0) return head + decoder.decode(tail);
    return `${head}\n[... dexp dropped ${dropped} bytes of output ...]\n${decoder.decode(tail)}`;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return new Uint8Array(0);
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
