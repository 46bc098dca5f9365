/**
 * Splits a byte stream into UTF-8 lines, in linear time and bounded memory.
 *
 * @module
 */

/** Default longest line delivered whole, in bytes (1 MiB); longer lines are cut. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/**
 * Receives a line. `cut` is true when the line was longer than the limit: `line` then holds
 * its first bytes (up to the limit, without a character cut in two) and the rest of it, up to the
 * next line end, was skipped.
 */
export type LineSink = (line: string, cut: boolean) => void;

// Keeps U+FEFF: a byte order mark is part of the output, not something to hide.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const LF = 10;
const CR = 13;

/**
 * Turns chunks of bytes into lines, without the line ending (`\n` or `\r\n`).
 *
 * Every byte is looked at a bounded number of times, whatever the length of the lines: the
 * bytes of complete lines in a chunk are decoded with one call, and a partial line is held
 * as a list of pieces (never re-scanned) of at most `maxLineBytes` bytes. A longer line is
 * cut: its first `maxLineBytes` bytes are delivered with `cut` true, the rest is skipped.
 */
export class LineSplitter {
  readonly #onLine: LineSink;
  readonly #max: number;
  #parts: Uint8Array[] = [];
  #held = 0;
  /** Bytes of the current line beyond the limit (skipped), and the last of them. */
  #over = 0;
  #lastOver = 0;
  #scanned = 0;

  /**
   * Makes a splitter.
   *
   * @param onLine Called once for every line, in order.
   * @param maxLineBytes The longest line delivered whole (default 1 MiB).
   * @throws {RangeError} If `maxLineBytes` is not a positive integer.
   */
  constructor(onLine: LineSink, maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes <= 0) {
      throw new RangeError(`'maxLineBytes' must be a positive integer: received ${maxLineBytes}`);
    }
    this.#onLine = onLine;
    this.#max = maxLineBytes;
  }

  /** Bytes of the current partial line held in memory (at most `maxLineBytes`). */
  get held(): number {
    return this.#held;
  }

  /** Bytes looked at so far, counting a byte again each time it is examined again. */
  get scanned(): number {
    return this.#scanned;
  }

  /**
   * Feeds a chunk. The splitter may keep views of it: do not reuse the buffer.
   *
   * @param chunk The next bytes of the stream.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const first = chunk.indexOf(LF);
    if (first === -1) {
      this.#scanned += chunk.length;
      this.#hold(chunk);
      return;
    }
    const last = chunk.lastIndexOf(LF);
    // indexOf looked at [0, first], lastIndexOf at [last, end); decode and split at most the
    // bytes between them once more.
    this.#scanned += first + 1 + (last > first ? chunk.length - last : 0);
    this.#finishLine(chunk.subarray(0, first));
    if (last > first) {
      const middle = chunk.subarray(first + 1, last);
      if (middle.length <= this.#max) this.#splitDecoded(middle);
      else this.#splitBytes(middle);
    }
    this.#hold(chunk.subarray(last + 1));
  }

  /** Ends the stream: a last line without a line ending is delivered too. */
  flush(): void {
    if (this.#held > 0 || this.#over > 0) this.#endLine(true);
  }

  /** Complete lines, none longer than the limit: one decode, then a split of the text. */
  #splitDecoded(bytes: Uint8Array): void {
    this.#scanned += bytes.length;
    const text = decoder.decode(bytes);
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      const end = nl === -1 ? text.length : nl;
      const stop = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
      this.#onLine(text.slice(start, stop), false);
      if (nl === -1) return;
      start = nl + 1;
    }
  }

  /**
   * Complete lines of a chunk larger than the limit: windows of at most the limit that end
   * at a line end are decoded at once; a line longer than the limit is cut.
   */
  #splitBytes(bytes: Uint8Array): void {
    const max = this.#max;
    let start = 0;
    while (bytes.length - start > max) {
      const nl = bytes.lastIndexOf(LF, start + max);
      if (nl >= start) {
        this.#scanned += start + max - nl + 1;
        this.#splitDecoded(bytes.subarray(start, nl));
        start = nl + 1;
        continue;
      }
      this.#scanned += max + 1;
      const end = bytes.indexOf(LF, start + max);
      this.#scanned += (end === -1 ? bytes.length : end + 1) - (start + max);
      if (end === -1) return this.#finishLine(bytes.subarray(start));
      this.#finishLine(bytes.subarray(start, end));
      start = end + 1;
    }
    this.#splitDecoded(bytes.subarray(start));
  }

  #hold(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const room = this.#max - this.#held;
    if (bytes.length > room) {
      this.#over += bytes.length - room;
      this.#lastOver = bytes[bytes.length - 1];
      bytes = bytes.subarray(0, room);
      if (bytes.length === 0) return;
    }
    this.#parts.push(bytes);
    this.#held += bytes.length;
  }

  /** Ends the current line with `segment`, the bytes before its `\n`. */
  #finishLine(segment: Uint8Array): void {
    if (segment.length === 0) return this.#endLine(true);
    if (segment[segment.length - 1] === CR) segment = segment.subarray(0, segment.length - 1);
    this.#hold(segment);
    this.#endLine(false);
  }

  /** Delivers the held line; `stripCR`: a `\r` it ends with belongs to its line ending. */
  #endLine(stripCR: boolean): void {
    const parts = this.#parts;
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = parts[0];
    else {
      bytes = new Uint8Array(this.#held);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    // A line of exactly the limit whose `\r\n` was split between chunks is not cut.
    const cut = this.#over > (stripCR && this.#over === 1 && this.#lastOver === CR ? 1 : 0);
    if (cut) bytes = bytes.subarray(0, completeLength(bytes));
    else if (stripCR && this.#over === 0 && bytes.length > 0 && bytes[bytes.length - 1] === CR) {
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    this.#parts = [];
    this.#held = 0;
    this.#over = 0;
    this.#onLine(bytes.length === 0 ? "" : decoder.decode(bytes), cut);
  }
}

/** The length of `bytes` without an incomplete UTF-8 character at its end. */
function completeLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let p = n - 1; p >= 0 && p >= n - 4; p--) {
    const b = bytes[p];
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const size = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return p + size > n ? p : n;
  }
  return n;
}
