import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { branch, computed, dependent, sweep } from "./sweep.ts";
import { range } from "./ranges.ts";

Deno.test("sweep: input order, last key fastest, keys sorted in each combination", () => {
  const s = sweep({ n: [1, 2], impl: ["b", "a"] });
  assertEquals([...s], [
    { impl: "b", n: 1 },
    { impl: "a", n: 1 },
    { impl: "b", n: 2 },
    { impl: "a", n: 2 },
  ]);
  assertEquals([...s], s.toArray()); // re-iterable, same order
  assertEquals(s.count(), 4);
});

Deno.test("sweep: 'order' changes which key is fastest", () => {
  const s = sweep({ n: [1, 2], impl: ["a", "b"] }, { order: ["impl"] });
  assertEquals([...s].map((c) => `${c.impl}${c.n}`), ["a1", "a2", "b1", "b2"]);
  assertThrows(() => sweep({ n: [1] }, { order: ["x"] }), RangeError, "'x'");
});

Deno.test("sweep: scalars are constants and an empty list gives no combinations", () => {
  assertEquals([...sweep({ a: [1, 2], seed: 42 })], [{ a: 1, seed: 42 }, { a: 2, seed: 42 }]);
  assertEquals(sweep({ a: [1, 2], b: [] }).count(), 0);
  assertEquals([...sweep({ a: [1, 2], b: [] })], []);
  assertEquals([...sweep({})], [{}]);
});

Deno.test("sweep: branches as a list item and as an execo-style map", () => {
  const s = sweep({
    impl: [branch("omp", { threads: [1, 2] }), "seq"],
    size: [10, 20],
  });
  assertEquals([...s].map((c) => `${c.impl}/${c.threads ?? "-"}/${c.size}`), [
    "omp/1/10",
    "omp/1/20",
    "omp/2/10",
    "omp/2/20",
    "seq/-/10",
    "seq/-/20",
  ]);
  assertEquals(s.count(), 6);
  const m = sweep({ impl: { a: { k: [1, 2, 3] }, b: null, c: {} } });
  assertEquals([...m].length, 5);
  assertEquals(m.count(), 5);
  // Nested branches.
  const n = sweep({ x: [branch(1, { y: [branch("deep", { z: [true, false] }), "flat"] }), 2] });
  assertEquals(n.count(), 4);
  assertEquals([...n].length, 4);
});

Deno.test("sweep: a parameter set twice is an error", () => {
  const s = sweep({ a: [branch(1, { b: [1] })], b: [2] });
  assertThrows(() => [...s], TypeError, "'b'");
});

Deno.test("sweep: computed and dependent parameters see the earlier ones", () => {
  const s = sweep({
    n: [1, 2, 3],
    total: computed((p) => (p.n as number) * 10),
    k: dependent((p) => range(p.n as number)),
  });
  assertEquals(s.count(), 6);
  assertEquals([...s].map((c) => [c.n, c.total, c.k]), [
    [1, 10, 0],
    [2, 20, 0],
    [2, 20, 1],
    [3, 30, 0],
    [3, 30, 1],
    [3, 30, 2],
  ]);
});

Deno.test("sweep: 'where' and .where() filter; count() follows", () => {
  const s = sweep({ a: range(5), b: range(5) }, { where: (c) => c.a < c.b });
  assertEquals(s.count(), 10);
  const t = s.where((c) => c.a === 0);
  assertEquals(t.count(), 4);
  assertEquals(s.count(), 10); // unchanged
});

Deno.test("sweep: lazy, a huge sweep is counted without generating it", () => {
  const s = sweep({ a: range(1000), b: range(1000), c: range(1000), d: range(1000) });
  assertEquals(s.count(), 1e12);
  const it = s[Symbol.iterator]();
  assertEquals(it.next().value, { a: 0, b: 0, c: 0, d: 0 });
  assertEquals(it.next().value, { a: 0, b: 0, c: 0, d: 1 });
});

Deno.test("sweep: malformed specs are rejected with the path", () => {
  // deno-lint-ignore no-explicit-any
  assertThrows(() => sweep({ a: (() => 1) as any }), TypeError, "'spec.a'");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => sweep([1, 2] as any), TypeError, "an array");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => sweep({ a: { x: 3 } as any }), TypeError, "'spec.a.x'");
});
