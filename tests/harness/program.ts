/**
 * Child programs for tests that need a program of their own (to interrupt it, or to watch
 * what it leaves behind when it ends): a file that imports dexp and has `n`, a group of the
 * testbed's hosts.
 *
 * @module
 */

import { type Testbed, USERS } from "./sshd.ts";

/**
 * Writes a program that imports dexp and has `n`, the testbed's hosts, then `body`; returns
 * the argv that runs it.
 *
 * @param tb The testbed.
 * @param dir Where to write the program.
 * @param body The program's code after the prelude.
 * @returns The argv: deno, run, -A, its config, the file.
 */
export async function writeProgram(tb: Testbed, dir: string, body: string): Promise<string[]> {
  const script = `${dir}/program.ts`;
  const spec = tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
  const params = { user: USERS.dash, keyfile: tb.keyfile, knownHosts: tb.knownHosts };
  await Deno.writeTextFile(
    script,
    `import { cmd, hosts } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
const n = hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
void cmd;
${body}`,
  );
  const config = new URL("../../deno.json", import.meta.url).pathname;
  return [Deno.execPath(), "run", "-A", `--config=${config}`, script];
}
