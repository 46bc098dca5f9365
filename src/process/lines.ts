/**
 * Splits a byte stream into UTF-8 lines.
 *
 * @module
 */

/** Turns chunks of bytes into lines, without the line ending (`\n` or `\r\n`). */
export class LineSplitter {
  readonly #decoder = new TextDecoder();
  #rest = "";
  readonly #onLine: (line: string) => void;

  /**
   * Makes a splitter.
   *
   * @param onLine Called once for every complete line, in order.
   */
  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  /**
   * Feeds a chunk.
   *
   * @param chunk The next bytes of the stream.
   */
  push(chunk: Uint8Array): void {
    const text = this.#rest + this.#decoder.decode(chunk, { stream: true });
    let start = 0;
    let nl = text.indexOf("\n");
    while (nl !== -1) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.#onLine(text.slice(start, end));
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    this.#rest = text.slice(start);
  }

  /** Ends the stream: a last line without a line ending is delivered too. */
  flush(): void {
    const text = this.#rest + this.#decoder.decode();
    this.#rest = "";
    if (text.length > 0) this.#onLine(text.endsWith("\r") ? text.slice(0, -1) : text);
  }
}
