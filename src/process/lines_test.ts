import { assert, assertEquals } from "../../tests/assert.ts";
import { LineSplitter } from "./lines.ts";

const enc = new TextEncoder();

function split(chunks: Uint8Array[], max?: number): [string, boolean][] {
  const out: [string, boolean][] = [];
  const s = new LineSplitter((l, cut) => out.push([l, cut]), max);
  for (const c of chunks) s.push(c);
  s.flush();
  return out;
}

function reference(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
}

Deno.test("lines are the same whatever the chunking (\\n, \\r\\n, unicode, empty lines)", () => {
  const text = "a\r\nb\n\nhéllo 日本語 ok\r\n\r\n\rx\r\r\nlast\r";
  const bytes = enc.encode(text);
  const want = reference(text).map((l) => [l, false]);
  for (let size = 1; size <= bytes.length; size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
    assertEquals(split(chunks), want, `chunks of ${size} bytes`);
  }
  // A chunk larger than the limit takes the line-by-line path; lines within the limit stay whole.
  assertEquals(split([bytes], 19), want);
});

Deno.test("a line longer than the limit is cut at a character boundary and marked", () => {
  const long = "é".repeat(10); // 20 bytes
  const bytes = enc.encode(`short\n${long}\nnext\n`);
  const want: [string, boolean][] = [["short", false], ["é".repeat(3), true], ["next", false]];
  assertEquals(split([bytes], 7), want);
  for (let size = 1; size <= bytes.length; size++) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
    assertEquals(split(chunks, 7), want, `chunks of ${size} bytes`);
  }
  // Exactly at the limit is not cut, also when its \r\n is split between chunks.
  assertEquals(split([enc.encode("1234567\n")], 7), [["1234567", false]]);
  assertEquals(split([enc.encode("1234567\r"), enc.encode("\nab")], 7), [["1234567", false], [
    "ab",
    false,
  ]]);
  assertEquals(split([enc.encode("1234567\r")], 7), [["1234567", false]]);
  assertEquals(split([enc.encode("1234567\r\r"), enc.encode("\n")], 7), [["1234567", true]]);
  let error: unknown;
  try {
    new LineSplitter(() => {}, 0);
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && error.message.includes("'maxLineBytes'"), String(error));
});

Deno.test("one huge line: each byte is scanned once and memory stays at the limit", () => {
  const lines: [number, boolean][] = [];
  const s = new LineSplitter((l, cut) => lines.push([l.length, cut]), 1024 * 1024);
  const chunk = new Uint8Array(64 * 1024).fill(97);
  const chunks = 1600; // 100 MiB
  let maxHeld = 0;
  for (let i = 0; i < chunks; i++) {
    s.push(chunk);
    maxHeld = Math.max(maxHeld, s.held);
  }
  s.push(enc.encode("\nend\n"));
  s.flush();
  assertEquals(lines, [[1024 * 1024, true], [3, false]]);
  assert(maxHeld <= 1024 * 1024, `held ${maxHeld} bytes`);
  // Linear: every byte looked at a bounded number of times (here once, plus the last chunk).
  assert(s.scanned <= chunks * chunk.length + 5 * 2, `scanned ${s.scanned} bytes`);
});

Deno.test("many short lines are scanned a bounded number of times", () => {
  const n = 100_000;
  const bytes = enc.encode("line\n".repeat(n));
  let count = 0;
  const s = new LineSplitter(() => count++);
  for (let i = 0; i < bytes.length; i += 4096) s.push(bytes.subarray(i, i + 4096));
  s.flush();
  assertEquals(count, n);
  assert(s.scanned <= 2 * bytes.length, `scanned ${s.scanned} of ${bytes.length} bytes`);
});

Deno.test("a byte order mark at the start is kept", () => {
  assertEquals(split([enc.encode("\uFEFFa\n\uFEFFb")]), [["\uFEFFa", false], ["\uFEFFb", false]]);
  assertEquals(split([new Uint8Array([0xef]), new Uint8Array([0xbb, 0xbf, 0x61])]), [[
    "\uFEFFa",
    false,
  ]]);
});

Deno.test("a chunk larger than the limit is split in windows, still in linear time", () => {
  const lines: string[] = [];
  const cuts: boolean[] = [];
  const s = new LineSplitter((l, cut) => {
    lines.push(l);
    cuts.push(cut);
  }, 100);
  const text = "x".repeat(250) + "\n" + "ab\n".repeat(10_000) + "y".repeat(150) + "\nend\n";
  const bytes = enc.encode(text);
  s.push(bytes);
  s.flush();
  assertEquals(lines.length, 10_003);
  assertEquals([lines[0], cuts[0]], ["x".repeat(100), true]);
  assertEquals(lines.slice(1, 10_001).every((l) => l === "ab"), true);
  assertEquals(cuts.slice(1, 10_001).some((c) => c), false);
  assertEquals([lines[10_001], cuts[10_001]], ["y".repeat(100), true]);
  assertEquals([lines[10_002], cuts[10_002]], ["end", false]);
  assert(s.scanned <= 4 * bytes.length, `scanned ${s.scanned} of ${bytes.length} bytes`);
});

Deno.test("random lines, chunkings and limits give the reference split", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const max = 1 + rand(40);
    let text = "";
    const lines = 1 + rand(30);
    for (let i = 0; i < lines; i++) {
      text += "abc\r".repeat(rand(3)).slice(0, rand(4)) + "z".repeat(rand(90));
      text += rand(4) === 0 ? "\r\n" : "\n";
    }
    if (rand(2) === 0) text += "tail";
    const want = reference(text).map((l): [string, boolean] =>
      l.length > max ? [l.slice(0, max), true] : [l, false]
    );
    const bytes = enc.encode(text);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length;) {
      const size = 1 + rand(rand(2) === 0 ? 8 : 200);
      chunks.push(bytes.slice(i, i + size));
      i += size;
    }
    assertEquals(split(chunks, max), want, `round ${round}, max ${max}: ${JSON.stringify(text)}`);
  }
});
