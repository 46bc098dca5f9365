/**
 * The extension seam of dexp, for backends: what a new kind of place to run commands (a
 * container runtime, a scheduler, a test double of a host) implements and what it is given.
 *
 * A {@linkcode Target} turns a {@linkcode LaunchSpec} (the command the user asked for) into a
 * {@linkcode Launch} (the local program that runs it, plus hooks to stop it where it really
 * runs). Everything in `@dexp/dexp` (commands, groups, hosts, experiments) works on any
 * target: a {@linkcode Group} of them fans out like hosts do.
 *
 * ```ts
 * import { Group } from "@dexp/dexp";
 * import type { Launch, LaunchSpec, Target } from "@dexp/dexp/backend";
 * import { deepStrictEqual } from "node:assert";
 *
 * // A target that runs every command under `env LANG=C`, on this machine.
 * class PlainLocale implements Target {
 *   constructor(readonly label: string) {}
 *   launch(spec: LaunchSpec): Launch {
 *     const argv = typeof spec.command === "string" ? ["sh", "-c", spec.command] : spec.command;
 *     return { program: "env", args: ["LANG=C", ...argv], env: spec.env, cwd: spec.cwd };
 *   }
 * }
 *
 * const r = await new Group([new PlainLocale("a"), new PlainLocale("b")]).run("echo $LANG")
 *   .quiet();
 * deepStrictEqual(r.results.map((p) => [p.target, p.text()]), [["a", "C"], ["b", "C"]]);
 * ```
 *
 * @module
 */

export {
  type CommandOptions,
  DEFAULT_OPTIONS,
  type ExecuteContext,
  type FileSink,
  fillPlaceholders,
  type Launch,
  LaunchError,
  type LaunchSpec,
  Lazy,
  LOCAL,
  OptionsBuilder,
  Running,
  Settled,
  type Stoppable,
  type StreamFilter,
  type Target,
} from "./src/process/mod.ts";
export { type Direction, type Endpoint, TransferTarget } from "./src/ssh/mod.ts";
export { type SlurmDirection, SlurmTransferTarget } from "./src/slurm/mod.ts";
export { type JobHost } from "./src/jobs/mod.ts";
