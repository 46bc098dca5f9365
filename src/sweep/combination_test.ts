import { assertEquals, assertNotEquals, assertThrows } from "../../tests/assert.ts";
import { combinationId, combinationName, parseCombinationName } from "./combination.ts";

Deno.test("combinationId sorts keys at every level and is independent of key order", () => {
  assertEquals(
    combinationId({ b: 2, a: [1, { y: true, x: null }] }),
    '{"a":[1,{"x":null,"y":true}],"b":2}',
  );
  assertEquals(combinationId({ a: 1, b: "x" }), combinationId({ b: "x", a: 1 }));
  assertEquals(combinationId({ "10": 1, "2": 2 }), '{"10":1,"2":2}');
  assertEquals(combinationId({ z: -0 }), '{"z":0}');
  assertEquals(combinationId({}), "{}");
});

Deno.test("combinationId rejects values that are not JSON", () => {
  assertThrows(() => combinationId({ a: undefined }), TypeError, "'combination.a'");
  assertThrows(() => combinationId({ a: NaN }), RangeError, "finite");
  assertThrows(() => combinationId({ a: new Date(0) }), TypeError, "Date");
  assertThrows(() => combinationId({ a: 1n }), TypeError, "bigint");
  assertThrows(() => combinationId({ a: [Infinity] }), RangeError, "'combination.a[0]'");
});

Deno.test("combinationName writes the documented style", () => {
  assertEquals(combinationName({ to_file: false, b: 2, a: 4 }), "a=4_b=2_to_file=false");
  assertEquals(combinationName({ host: "n1/x", n: "4" }), "host=n1%2Fx_n=%34");
  assertEquals(combinationName({}), "_");
  assertEquals(combinationName({ e: 1e-7, s: "", v: null }), "e=1e-7_s=%_v=null");
});

const tricky: Record<string, unknown>[] = [
  { a: 4 },
  { a: "4" },
  { a: true },
  { a: "true" },
  { a: null },
  { a: "null" },
  { a: "" },
  { a: "%" },
  { a: "a_b" },
  { a: "a", b: "" },
  { a_b: "" },
  { a: "x=y" },
  { "a=x": "y" },
  { a: [1, 2] },
  { a: "[1,2]" },
  { a: "@%5B1,2%5D" },
  { a: { x: 1 } },
  { a: "héllo wörld ✓" },
  { a: -1.5 },
  { a: "-1.5" },
  { "-a": 1 },
  { _a: 1 },
  { a: 1, b: 2 },
  { "a_b": 1, "c": 2 },
  { "a": 1, "b_c": 2 },
  { "": 1 },
];

Deno.test("combinationName is unique and parseCombinationName reverses it", () => {
  const names = new Set<string>();
  for (const c of tricky) {
    const name = combinationName(c);
    if (!/^[A-Za-z0-9.+,_=%@~-]+$/.test(name)) throw new Error(`unsafe name ${name}`);
    names.add(name);
    const back = parseCombinationName(name);
    assertEquals(back.truncated, false);
    assertEquals(combinationId(back.combination), combinationId(c), name);
  }
  assertEquals(names.size, tricky.length);
});

Deno.test("long combination names are cut with a hash and stay unique", () => {
  const a = { text: "x".repeat(300), n: 1 };
  const b = { text: "x".repeat(300), n: 2 };
  const na = combinationName(a);
  const nb = combinationName(b);
  assertNotEquals(na, nb);
  assertEquals(na.length <= 200, true);
  assertEquals(parseCombinationName(na).truncated, true);
  assertEquals(parseCombinationName(na).combination, { n: 1 });
  assertEquals(combinationName(a, { maxLength: 60 }).length <= 60, true);
  assertThrows(() => combinationName(a, { maxLength: 10 }), RangeError, "'maxLength'");
});

Deno.test("parseCombinationName rejects foreign names", () => {
  assertThrows(() => parseCombinationName("results"), SyntaxError, "'results'");
});
