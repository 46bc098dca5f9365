// Issue 10 item 7: `dexp --help` imports no verb; a verb's module loads only when it runs.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertStringIncludes, tempDir } from "./assert.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const a = join(from, e.name), b = join(to, e.name);
    if (e.isDirectory) await copyTree(a, b);
    else if (e.isFile) await Deno.copyFile(a, b);
  }
}

async function dexp(root: string, ...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", join(root, "src", "cli", "main.ts"), ...args],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("dexp --help works when every verb module is broken: help loads none of them", async () => {
  await using tmp = await tempDir("dexp-lazy-help-");
  await copyTree(join(ROOT, "src"), join(tmp.path, "src"));
  await Deno.copyFile(join(ROOT, "deno.json"), join(tmp.path, "deno.json"));
  const verbs: string[] = [];
  for await (const e of Deno.readDir(join(tmp.path, "src", "cli"))) {
    if (!e.name.endsWith("_verb.ts") || e.name.startsWith("_")) continue;
    verbs.push(e.name);
    await Deno.writeTextFile(
      join(tmp.path, "src", "cli", e.name),
      `throw new Error("verb module ${e.name} was loaded");\n`,
    );
  }
  assert(verbs.length >= 9, `only ${verbs.length} verb modules found`);
  const help = await dexp(tmp.path, "--help");
  const out = new TextDecoder().decode(help.stdout);
  assertEquals(help.code, 0, new TextDecoder().decode(help.stderr));
  for (const v of ["run", "status", "report", "log", "sweep", "hosts", "jobs", "cancel"]) {
    assertStringIncludes(out, `  ${v} `);
  }
  // The same broken copy does load a verb when it runs: the check above is not vacuous.
  const run = await dexp(tmp.path, "status", "--help");
  assert(run.code !== 0);
  assertStringIncludes(new TextDecoder().decode(run.stderr), "status_verb.ts was loaded");
});

Deno.test("main.ts imports every verb dynamically: no verb is in its static module graph", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "src", "cli", "main.ts")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(info.code, 0, new TextDecoder().decode(info.stderr));
  type Dep = { code?: { specifier: string }; isDynamic?: boolean };
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: { specifier: string; dependencies?: Dep[] }[];
  };
  const deps = new Map(graph.modules.map((m) => [m.specifier, m.dependencies ?? []]));
  const main = [...deps.keys()].find((s) => s.endsWith("/src/cli/main.ts"))!;
  const seen = new Set<string>([main]);
  const todo = [main];
  let dynamic = 0;
  while (todo.length > 0) {
    for (const d of deps.get(todo.pop()!) ?? []) {
      if (!d.code) continue;
      if (d.isDynamic) {
        dynamic++;
        continue;
      }
      if (!seen.has(d.code.specifier)) {
        seen.add(d.code.specifier);
        todo.push(d.code.specifier);
      }
    }
  }
  assertEquals([...seen].filter((s) => s.endsWith("_verb.ts")), []);
  assert(dynamic >= 9, `only ${dynamic} dynamic imports`);
});
