/**
 * The architecture checks itself: fails on an upward import between layers, on an import
 * cycle, and on an import of another layer's file other than its `mod.ts`.
 *
 * Layers, bottom to top, as in DESIGN.md: process, ssh, action, sweep, jobs, pool, slurm,
 * engine, cli. A file in `src/<layer>/` may import files of its own layer and the `mod.ts` of a
 * layer below it, nothing else. Run: `deno run --allow-read tools/check_arch.ts [--warn KIND] [ROOT]`.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";

/** The layers, bottom first. */
export const LAYERS = [
  "process",
  "ssh",
  "action",
  "sweep",
  "jobs",
  "pool",
  "slurm",
  "engine",
  "cli",
] as const;

/** One broken rule. */
export interface Violation {
  /** `upward`, `not-mod` or `cycle`. */
  kind: "upward" | "not-mod" | "cycle" | "unknown-layer";
  /** What is wrong, with the files named. */
  message: string;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/**
 * The relative module specifiers a source text imports (static, re-exports, literal dynamic).
 *
 * @param text The source text.
 * @returns The specifiers that start with `.`.
 */
export function importsOf(text: string): string[] {
  // Comments may hold example imports (`@example` blocks): leave them out.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith(".")) out.push(spec);
  }
  return out;
}

async function walk(dir: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) await walk(p, out);
    else if (e.isFile && p.endsWith(".ts")) out.push(p);
  }
}

function layerOf(root: string, file: string): string | null {
  const rel = relative(join(root, "src"), file);
  if (rel.startsWith("..")) return null;
  return rel.split("/")[0];
}

/**
 * Checks the tree under `root`.
 *
 * @param root The repository root (holds `src/`).
 * @returns Every violation found, empty when the architecture holds.
 */
export async function checkArchitecture(root: string): Promise<Violation[]> {
  const files: string[] = [];
  await walk(join(root, "src"), files);
  const rank = new Map<string, number>(LAYERS.map((l, i) => [l, i]));
  const graph = new Map<string, string[]>();
  const violations: Violation[] = [];
  for (const file of files) {
    const from = layerOf(root, file)!;
    const r = relative(root, file);
    if (!rank.has(from)) {
      violations.push({
        kind: "unknown-layer",
        message: `${r} is in 'src/${from}/', which is not a layer: use one of ${LAYERS.join(", ")}`,
      });
      continue;
    }
    const edges: string[] = [];
    for (const spec of importsOf(await Deno.readTextFile(file))) {
      const target = resolve(dirname(file), spec);
      const to = layerOf(root, target);
      if (to === null) continue; // outside src/ (tests, tools): not a layer edge
      edges.push(target);
      if (to === from) continue;
      const t = relative(root, target);
      if ((rank.get(to) ?? -1) > rank.get(from)!) {
        violations.push({
          kind: "upward",
          message: `${r} imports ${t}: '${from}' is below '${to}', so it may not import it`,
        });
      } else if (!t.endsWith(`src/${to}/mod.ts`)) {
        violations.push({
          kind: "not-mod",
          message: `${r} imports ${t}: import another layer only through 'src/${to}/mod.ts'`,
        });
      }
    }
    graph.set(file, edges);
  }
  for (const scc of cycles(graph)) {
    violations.push({
      kind: "cycle",
      message: `import cycle: ${scc.map((f) => relative(root, f)).join(" -> ")} -> ${
        relative(root, scc[0])
      }`,
    });
  }
  return violations;
}

/** Tarjan's strongly connected components of size > 1 (and self-loops), as ordered lists. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.reverse());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

if (import.meta.main) {
  // `--warn KIND` reports a kind of violation without failing (while a clean-up is under way).
  const warn = new Set<string>();
  const args: string[] = [];
  for (let i = 0; i < Deno.args.length; i++) {
    if (Deno.args[i] === "--warn") warn.add(Deno.args[++i]);
    else args.push(Deno.args[i]);
  }
  const root = resolve(args[0] ?? ".");
  const violations = await checkArchitecture(root);
  const fatal = violations.filter((v) => !warn.has(v.kind));
  for (const v of violations) {
    console.error(`check_arch: ${warn.has(v.kind) ? "warning" : "error"}: ${v.kind}: ${v.message}`);
  }
  if (fatal.length > 0) {
    console.error(`check_arch: ${fatal.length} violation(s)`);
    Deno.exit(1);
  }
  const warned = violations.length > 0 ? ` (${violations.length} warning(s))` : "";
  console.log(`check_arch: no upward import, no cycle${warned}`);
}
