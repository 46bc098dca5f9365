// Small non-cryptographic hashes used for checksums, indexes and short names.

/** FNV-1a over the UTF-16 code units of `s`, as an unsigned 32-bit integer. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 64-bit hash of `s` as 16 hex digits (two independent 32-bit lanes). */
export function hash64Hex(s: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (h1 >>> 0).toString(16).padStart(8, "0") + (h2 >>> 0).toString(16).padStart(8, "0");
}

/** The 8-hex-digit checksum written at the end of each journal line. */
export function checksum(s: string): string {
  return hash32(s).toString(16).padStart(8, "0");
}
