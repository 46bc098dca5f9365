import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { checkCommand, expandMatrix, parseMatrixArgs, placeholdersOf } from "./matrix.ts";
import { jobsOf } from "./_state.ts";

Deno.test("matrix: K=a,b J=1,2,3 is the cartesian product, the first variable slowest", () => {
  const m = parseMatrixArgs(["K=a,b", "J=1,2,3"]);
  assertEquals(m, { K: ["a", "b"], J: ["1", "2", "3"] });
  assertEquals(expandMatrix(m).map((c) => `${c.K}${c.J}`), ["a1", "a2", "a3", "b1", "b2", "b3"]);
  assertEquals(expandMatrix({ x: ["only"] }), [{ x: "only" }]);
  // Values keep '=' and spaces; only ',' separates.
  assertEquals(parseMatrixArgs(["opt=a=1,b c"]), { opt: ["a=1", "b c"] });
});

Deno.test("matrix: repeats follow each combination, ids in queue order", () => {
  const spec = {
    class: "c",
    command: "run {K}",
    results: null,
    timeout: null,
    retry: { attempts: 1, countInfrastructure: false },
    reps: 2,
    matrix: 7,
    submitted: 0,
  };
  const jobs = jobsOf(spec, 7, expandMatrix({ K: ["a", "b"] }));
  assertEquals(jobs.map((j) => [j.id, j.vars.K, j.rep]), [
    [7, "a", 0],
    [8, "a", 1],
    [9, "b", 0],
    [10, "b", 1],
  ]);
});

Deno.test("matrix: bad variables get errors that say how to write them", () => {
  assertThrows(() => parseMatrixArgs(["K="]), RangeError, "empty list of values");
  assertThrows(() => parseMatrixArgs(["K=a,,b"]), RangeError, "empty value");
  assertThrows(() => parseMatrixArgs(["K"]), TypeError, "NAME=v1,v2");
  assertThrows(() => parseMatrixArgs(["1K=a"]), TypeError, "NAME=v1,v2");
  assertThrows(() => parseMatrixArgs(["K=a", "K=b"]), TypeError, "given twice");
  assertThrows(() => parseMatrixArgs(["slot=a"]), TypeError, "built-in placeholder");
  assertThrows(() => expandMatrix({}), RangeError, "at least one variable");
  assertThrows(() => expandMatrix({ K: [] }), RangeError, "'K' has an empty list");
});

Deno.test("matrix: commands may use built-ins and known variables, '{{' is literal", () => {
  assertEquals(placeholdersOf("a {x} {{y}} {slot} {x}"), ["x", "slot"]);
  checkCommand("run --k {K} on {host} slot {slot} job {job} class {class} {{literal}}", ["K"]);
  const e = assertThrows(() => checkCommand("run {K} {J}", ["K"]), RangeError, "'{J}'");
  assertEquals(e.message.includes("matrix variable 'J=...'"), true);
  assertThrows(() => checkCommand("  ", []), TypeError, "non-empty");
  // A shell variable in braces is a placeholder too: the message says how to write it.
  assertThrows(() => checkCommand("echo ${HOME}", []), RangeError, "'${{HOME}}' (or '$HOME')");
  checkCommand("echo ${{HOME}} $HOME", []);
});
