/**
 * What a verb of the `dexp` command is. Its own module: the verbs import it, and `main.ts`
 * imports the verbs, so no verb imports `main.ts` (no cycle).
 *
 * @module
 */

/**
 * One verb of the `dexp` command. Its one-line summary is given to `registerVerb()` in
 * `main.ts`, so that `dexp --help` does not load the verb.
 */
export interface Verb {
  /** Runs the verb with the arguments that follow it; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}
