/**
 * dexp: script and run experiments across many machines, from one TypeScript program.
 *
 * ```ts
 * import { cmd, sh } from "@dexp/dexp";
 * const r = await cmd(sh`echo ${"hello, world"}`).quiet();
 * console.log(r.text(), r.duration);
 * ```
 *
 * @module
 */

export * from "./src/process/mod.ts";
export * from "./src/ssh/mod.ts";
export * from "./src/action/mod.ts";
export * from "./src/sweep/mod.ts";
export * from "./src/jobs/mod.ts";
export * from "./src/pool/mod.ts";
export * from "./src/slurm/mod.ts";
export * from "./src/engine/mod.ts";
