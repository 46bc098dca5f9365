// dexp used from a folder outside this repository, with no deno.json of its own: a script that
// imports the library by path, and the `deno install`ed `dexp` command running an experiment
// file there. Both fail when the library imports a bare specifier that only this
// repository's import map resolves (`Import "yaml" not a dependency`).
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { assertEquals, assertStringIncludes } from "./assert.ts";

const REPO = resolve(import.meta.dirname!, "..");
const MOD = pathToFileURL(join(REPO, "mod.ts")).href;
const MAIN = join(REPO, "src/cli/main.ts");
const dec = new TextDecoder();

/** A temporary folder outside the repository (and outside any folder with a deno.json). */
async function outsideDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "dexp-outside-" }));
  if (path.startsWith(REPO + "/")) throw new Error(`Temp folder ${path} is inside ${REPO}`);
  for (let d = path; d !== "/"; d = resolve(d, "..")) {
    for (const f of ["deno.json", "deno.jsonc", "package.json"]) {
      try {
        await Deno.stat(join(d, f));
        throw new Error(`Found ${join(d, f)} above the temp folder: the test would not be outside`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * Runs a program in `cwd`, with this process's environment (so the same DENO_DIR, where
 * npm:yaml already is: the deno commands get `--cached-only`, nothing is downloaded).
 */
async function runIn(cwd: string, program: string, args: string[]) {
  const out = await new Deno.Command(program, {
    args,
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const HOSTS_YAML = `defaults:
  user: bob
hosts:
  - n1
  - address: n2
    port: 2222
    tags: [gpu]
`;

Deno.test("a script outside the repository imports the library by path", async () => {
  await using dir = await outsideDir();
  await Deno.writeTextFile(join(dir.path, "hosts.yaml"), HOSTS_YAML);
  await Deno.writeTextFile(
    join(dir.path, "script.ts"),
    `import { cmd, hostsFromFile } from ${JSON.stringify(MOD)};
const out = await cmd(["echo", "local ok"]).quiet();
const h = await hostsFromFile("hosts.yaml");
console.log(out.stdout.trim());
console.log(JSON.stringify(h.targets.map((t) => [t.name, t.params.user, t.tags])));
`,
  );
  const r = await runIn(dir.path, Deno.execPath(), [
    "run",
    "-A",
    "--cached-only",
    "--no-config",
    "script.ts",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.split("\n").filter((l) => l !== ""), [
    "local ok",
    JSON.stringify([["n1", "bob", {}], ["n2:2222", "bob", { gpu: true }]]),
  ]);
  // Without --no-config too (what a user types): nothing above the folder has a deno.json.
  const plain = await runIn(dir.path, Deno.execPath(), ["run", "-A", "--cached-only", "script.ts"]);
  assertEquals(plain.code, 0, plain.stderr);
});

Deno.test("the installed dexp command runs an experiment file outside the repository", async () => {
  await using dir = await outsideDir();
  const root = join(dir.path, "root");
  const install = await runIn(dir.path, Deno.execPath(), [
    "install",
    "-g",
    "-A",
    "--cached-only",
    "-f",
    "--root",
    root,
    "-n",
    "dexp",
    MAIN,
  ]);
  assertEquals(install.code, 0, install.stderr);
  const work = join(dir.path, "work");
  await Deno.mkdir(work);
  await Deno.writeTextFile(join(work, "hosts.yaml"), HOSTS_YAML);
  await Deno.writeTextFile(
    join(work, "exp.ts"),
    `import { cmd, experiment, hostsFromFile } from ${JSON.stringify(MOD)};
experiment("outside", { params: { n: [1, 2] } }, async (ctx, p) => {
  const h = await hostsFromFile("hosts.yaml");
  const out = await cmd(["echo", \`n=\${p.n}\`]).quiet();
  await Deno.writeTextFile(ctx.path("out.txt"), \`\${out.stdout.trim()} \${h.length}\\n\`);
});
`,
  );
  const r = await runIn(work, join(root, "bin", "dexp"), ["run", "--no-progress", "exp.ts"]);
  assertEquals(r.code, 0, r.stdout + r.stderr);
  const found: string[] = [];
  for await (const e of Deno.readDir(join(work, "results", "outside"))) {
    if (!e.isDirectory) continue;
    for await (const c of Deno.readDir(join(work, "results", "outside", e.name))) {
      if (!c.isDirectory || c.name.startsWith(".")) continue;
      found.push(
        await Deno.readTextFile(join(work, "results", "outside", e.name, c.name, "out.txt")),
      );
    }
  }
  assertEquals(found.sort(), ["n=1 2\n", "n=2 2\n"]);
  const version = await runIn(work, join(root, "bin", "dexp"), ["--version"]);
  assertStringIncludes(version.stdout, "dexp ");
});
