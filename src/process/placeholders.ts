/**
 * `{name}` placeholders in paths, filled per target (`results/{host}/out.log`).
 *
 * @module
 */

/**
 * Replaces `{name}` with `vars[name]`; unknown names are an error, `{{` and `}}` are
 * literal braces.
 *
 * @param template A path or text with placeholders.
 * @param vars The values, e.g. `{ host: "n1", i: "0" }`.
 * @returns The text with placeholders filled.
 * @throws {RangeError} If a placeholder has no value.
 *
 * @example
 * ```ts
 * import { fillPlaceholders } from "@dexp/dexp/backend";
 * import { strictEqual } from "node:assert";
 *
 * strictEqual(fillPlaceholders("results/{host}/{{x}}", { host: "n1" }), "results/n1/{x}");
 * ```
 */
export function fillPlaceholders(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replaceAll(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name?: string) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    const v = vars[name!];
    if (v === undefined) {
      throw new RangeError(
        `Unknown placeholder '{${name}}' in "${template}": use one of ${
          Object.keys(vars).map((k) => `{${k}}`).join(", ")
        }`,
      );
    }
    return v;
  });
}
