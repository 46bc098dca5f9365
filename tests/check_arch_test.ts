import { assertEquals } from "./assert.ts";
import { checkArchitecture, importsOf } from "../tools/check_arch.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "dexp-arch-" });
  for (const [path, text] of Object.entries(files)) {
    const full = `${root}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  return root;
}

Deno.test("check_arch finds upward imports, imports past mod.ts and cycles, and nothing else", async () => {
  const root = await tree({
    "src/process/mod.ts": `export * from "./a.ts";`,
    "src/process/a.ts": `export const a = 1;`,
    // Allowed: a lower layer's mod.ts, a file of one's own layer, a comment's example import.
    "src/ssh/ok.ts": `import { a } from "../process/mod.ts";\nimport "./b.ts";\n` +
      `/** import { x } from "../engine/mod.ts"; */\nexport const o = a;`,
    "src/ssh/b.ts": `export const b = 2;`,
    // Upward: ssh may not import engine.
    "src/ssh/up.ts": `import type { E } from "../engine/mod.ts";\nexport type U = E;`,
    // Past the other layer's mod.ts.
    "src/engine/mod.ts": `export type E = number;\nexport { c } from "./c.ts";`,
    "src/engine/past.ts": `export { a } from "../process/a.ts";`,
    // A cycle inside a layer.
    "src/engine/c.ts": `import { d } from "./d.ts";\nexport const c = d;`,
    "src/engine/d.ts": `export const d = await import("./c.ts");`,
    "src/nolayer/x.ts": `export const x = 1;`,
  });
  try {
    const found = (await checkArchitecture(root)).map((v) => v.kind).sort();
    assertEquals(found, ["cycle", "not-mod", "unknown-layer", "upward"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("importsOf reads static, type-only, re-export and literal dynamic imports, not comments", () => {
  const text = `import a from "./a.ts";\nimport type { B } from "./b.ts";\n` +
    `export * from "./c.ts";\nconst d = await import("./d.ts");\n// import "./e.ts";\n` +
    `import "npm:yaml";`;
  assertEquals(importsOf(text), ["./a.ts", "./b.ts", "./c.ts", "./d.ts"]);
});
