import posix from "node:path/posix";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assertEquals, assertThrows } from "../../tests/assert.ts";
import * as path from "./path.ts";

/** Paths made of the pieces that matter: slashes, dots, names, in every order. */
function samples(): string[] {
  const pieces = ["", "/", "//", ".", "..", "a", "b.c", ".d", "e.", "..f"];
  const out = new Set<string>(["", "/", "a/b/", "/a/b/../../..", "./a", "a/./b/.", "..."]);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % pieces.length;
  for (let i = 0; i < 3000; i++) {
    let p = "";
    const n = 1 + (i % 6);
    for (let j = 0; j < n; j++) p += (j > 0 && next() % 2 ? "/" : "") + pieces[next()];
    out.add(p);
  }
  return [...out];
}

Deno.test("path helpers agree with node:path (posix) on slashes, dots and names", () => {
  for (const p of samples()) {
    assertEquals(path.normalize(p), posix.normalize(p), `path.normalize(${JSON.stringify(p)})`);
    assertEquals(path.dirname(p), posix.dirname(p), `path.dirname(${JSON.stringify(p)})`);
    assertEquals(path.basename(p), posix.basename(p), `path.basename(${JSON.stringify(p)})`);
    assertEquals(path.extname(p), posix.extname(p), `path.extname(${JSON.stringify(p)})`);
    assertEquals(path.isAbsolute(p), posix.isAbsolute(p), `path.isAbsolute(${JSON.stringify(p)})`);
    assertEquals(path.resolve(p), posix.resolve(p), `path.resolve(${JSON.stringify(p)})`);
    assertEquals(
      path.join(p, "x", p),
      posix.join(p, "x", p),
      `path.join(${JSON.stringify(p)}, ...)`,
    );
    assertEquals(
      path.resolve("/r", p, "y"),
      posix.resolve("/r", p, "y"),
      `path.resolve(/r, ${p}, y)`,
    );
  }
  assertEquals(path.join(), posix.join());
  assertEquals(path.resolve(), posix.resolve());
});

Deno.test("file URLs round-trip every character a path may hold, as node:url's do", () => {
  for (const p of ["/a b/c#d?e%f", "/x/%25/\\/\n\t\r/é", "/", "/dir/", "rel/file.ts"]) {
    assertEquals(
      path.toFileUrl(p).href,
      pathToFileURL(p).href,
      `path.toFileUrl(${JSON.stringify(p)})`,
    );
    assertEquals(path.fromFileUrl(path.toFileUrl(p)), fileURLToPath(pathToFileURL(p)));
  }
  assertEquals(path.fromFileUrl("file:///a%20b/c"), "/a b/c");
  assertThrows(() => path.fromFileUrl("https://example.org/a"), TypeError, "Not a file: URL");
  assertThrows(() => path.fromFileUrl("file://other/a"), TypeError, "another host");
  assertThrows(() => path.fromFileUrl("file:///a%2Fb"), TypeError, "must not encode '/'");
});
