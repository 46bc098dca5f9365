// Type-level tests of experiment parameters: `deno check` (and `deno test`, which checks
// first) fails if an `@ts-expect-error` below stops being an error.
import { assertEquals } from "../../tests/assert.ts";
import { branch } from "../sweep/mod.ts";
import { defineExperiment } from "./registry.ts";

Deno.test("inferred parameter types have exactly the spec's parameters", () => {
  const seen: unknown[] = [];
  const e = defineExperiment("typed", { params: { size: [1, 2], mode: ["a", "b"] } }, (_, p) => {
    const size: 1 | 2 = p.size;
    const mode: "a" | "b" = p.mode;
    // @ts-expect-error a misspelt parameter name is a type error (no index signature)
    seen.push(p.sise);
    // @ts-expect-error a parameter's type is its values'
    const wrong: string = p.size;
    seen.push(size, mode, wrong);
  });
  assertEquals(e.name, "typed");
  defineExperiment("none", {}, (_, p) => {
    // @ts-expect-error an experiment without parameters has none
    seen.push(p.n);
  });
  defineExperiment("list", { params: [{ n: 1 }, { n: 2 }] }, (_, p) => {
    const n: 1 | 2 = p.n;
    // @ts-expect-error a list of combinations has the combinations' keys only
    seen.push(n, p.m);
  });
  // A branch makes sub-parameters the type cannot name: they stay reachable.
  defineExperiment("branched", {
    params: { impl: [branch("mpi", { ranks: [2, 4] }), "omp"] },
  }, (_, p) => {
    seen.push(p.impl, p.ranks);
  });
});
