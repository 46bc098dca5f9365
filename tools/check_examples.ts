/**
 * Every value a package entry exports (function, class, constant) has an `@example` in its
 * JSDoc; types and interfaces are shown by the examples of the values that take or return
 * them. The examples themselves run under `deno test --doc`.
 *
 * Reads `deno doc --json` of the entries. Run:
 * `deno run --allow-run --allow-read tools/check_examples.ts [ENTRY...]` (default: `mod.ts`
 * and `backend.ts`). Exits 1 when an exported value has no example, or when a name in
 * {@linkcode NOT_YET} has one now (take it off the list, so that the list only shrinks).
 *
 * @module
 */

/** The entries of the package checked by default. */
export const ENTRIES: readonly string[] = ["mod.ts", "backend.ts"];

/**
 * Exported values that have no example yet: each one is a debt, listed so that CI holds the
 * rest. Add nothing here; write the example instead.
 */
export const NOT_YET: ReadonlySet<string> = new Set<string>([]);

/** The kinds of `deno doc` node that are values (types and interfaces are not). */
const VALUE_KINDS = new Set(["function", "class", "variable", "enum", "namespace"]);

/** One exported symbol as `deno doc --json` describes it (the fields read here). */
interface DocSymbol {
  name: string;
  declarations: {
    kind: string;
    location: { filename: string; line: number };
    jsDoc?: { tags?: { kind: string }[] };
  }[];
}

/** An exported value without an example. */
export interface MissingExample {
  /** The entry that exports it. */
  entry: string;
  /** Its exported name. */
  name: string;
  /** Where it is declared, `file:line`. */
  at: string;
}

/**
 * The exported values without an `@example`, from the JSON of `deno doc --json`.
 *
 * @param json The parsed output of `deno doc --json ENTRY...`.
 * @returns One entry per exported value that has no example, in the order `deno doc` lists
 * them.
 */
export function missingExamples(json: unknown): MissingExample[] {
  const nodes = (json as { nodes?: Record<string, { symbols?: DocSymbol[] }> }).nodes;
  if (nodes === undefined || typeof nodes !== "object") {
    throw new TypeError("Expected the output of 'deno doc --json' (version 2): no 'nodes' in it");
  }
  const out: MissingExample[] = [];
  for (const [entry, node] of Object.entries(nodes)) {
    for (const sym of node.symbols ?? []) {
      const values = sym.declarations.filter((d) => VALUE_KINDS.has(d.kind));
      if (values.length === 0) continue; // a type, an interface, or a re-export reference
      const hasExample = sym.declarations.some((d) =>
        (d.jsDoc?.tags ?? []).some((t) => t.kind === "example")
      );
      if (hasExample) continue;
      const loc = values[0].location;
      out.push({
        entry: entry.replace(/^file:\/\/.*\//, ""),
        name: sym.name,
        at: `${loc.filename.replace(/^file:\/\//, "")}:${loc.line}`,
      });
    }
  }
  return out;
}

/**
 * Runs `deno doc --json` on the entries and parses its output.
 *
 * @param entries The entry files.
 * @returns The parsed JSON.
 * @throws {Error} If `deno doc` fails.
 */
export async function docJson(entries: readonly string[]): Promise<unknown> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...entries],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `'deno doc --json ${entries.join(" ")}' failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * What is wrong, as lines to print: values without an example (not listed in `notYet`) and
 * names in `notYet` that have an example now or are no longer exported.
 *
 * @param missing The values without an example.
 * @param notYet The names allowed to have none, for now.
 * @returns The problems, empty when the check passes.
 */
export function problems(
  missing: readonly MissingExample[],
  notYet: ReadonlySet<string> = NOT_YET,
): string[] {
  const out: string[] = [];
  const names = new Set(missing.map((m) => m.name));
  for (const m of missing) {
    if (!notYet.has(m.name)) {
      out.push(`${m.name} (exported by ${m.entry}, ${m.at}) has no @example: write one`);
    }
  }
  for (const n of notYet) {
    if (!names.has(n)) {
      out.push(`${n} is in NOT_YET but needs no entry there (it has an example or is gone)`);
    }
  }
  return out;
}

if (import.meta.main) {
  const entries = Deno.args.length > 0 ? Deno.args : ENTRIES;
  const found = problems(missingExamples(await docJson(entries)));
  for (const p of found) console.error(`check_examples: ${p}`);
  if (found.length > 0) {
    console.error(`check_examples: ${found.length} problem(s)`);
    Deno.exit(1);
  }
  const debt = NOT_YET.size > 0 ? ` (${NOT_YET.size} still listed in NOT_YET)` : "";
  console.log(
    `check_examples: every exported value of ${entries.join(", ")} has an example${debt}`,
  );
}
