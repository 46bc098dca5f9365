/** The version of dexp written to `run.json` (kept equal to `deno.json`'s version). */
export const DEXP_VERSION = "0.1.0";
