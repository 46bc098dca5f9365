import { assertEquals } from "./assert.ts";
import { docJson, missingExamples, problems } from "../tools/check_examples.ts";

Deno.test("check_examples names the exported values without @example, not types or re-exported ones that have one", async () => {
  const root = await Deno.makeTempDir({ prefix: "dexp-examples-" });
  try {
    await Deno.writeTextFile(
      `${root}/a.ts`,
      [
        "/**\n * Has one.\n * @example\n * ```ts\n * f();\n * ```\n * @returns 1\n */",
        "export function f(): number { return 1; }",
        "/** Has none. @returns 2 */\nexport function g(): number { return 2; }",
        "/** A class without one. */\nexport class C {}",
        "/** A constant without one. */\nexport const K = 3;",
        "/** A type: shown by the values that use it. */\nexport interface I { x: number }",
        "/** Not exported by the entry. */\nexport function hidden(): void {}",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${root}/mod.ts`,
      `/** The entry. @module */\nexport { C, f, g, type I, K } from "./a.ts";\n`,
    );
    const missing = missingExamples(await docJson([`${root}/mod.ts`]));
    assertEquals(missing.map((m) => m.name).sort(), ["C", "K", "g"]);
    assertEquals(missing.every((m) => m.at.startsWith(`${root}/a.ts:`)), true);
    assertEquals(problems(missing, new Set(["C", "K", "g"])), []);
    assertEquals(problems(missing, new Set(["C", "K"])).length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check_examples fails on a NOT_YET name that needs no entry any more", () => {
  const found = problems([], new Set(["done"]));
  assertEquals(found, [
    "done is in NOT_YET but needs no entry there (it has an example or is gone)",
  ]);
});
