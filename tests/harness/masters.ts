/**
 * Finding ssh masters that went to the background: a master set up by a command's own ssh
 * (`ControlMaster=yes` with a command, see src/ssh/connections.ts `Lead`) renames itself
 * `ssh: SOCKET [mux]` once logged in, so its command line no longer names the testbed.
 * It is found by its TCP connection to the testbed's port instead.
 *
 * @module
 */

import { readCmdline } from "./_proc.ts";
import type { Testbed } from "./sshd.ts";

/**
 * The background ssh masters connected to the testbed, as `pgrep -a` prints them.
 *
 * @param tb The testbed.
 * @returns Lines `PID ssh: SOCKET [mux]`.
 */
export async function detachedMasters(tb: Testbed): Promise<string[]> {
  const port = tb.hosts[0].port;
  const out = await new Deno.Command("ss", {
    args: ["-Htnp", "state", "established", `( dport = :${port} )`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const pids = new Set(
    [...new TextDecoder().decode(out.stdout).matchAll(/"ssh",pid=(\d+)/g)].map((m) => Number(m[1])),
  );
  const lines: string[] = [];
  for (const pid of pids) {
    const cmdline = await readCmdline(pid);
    if (cmdline !== null && /^ssh: \S+ \[mux\]/.test(cmdline)) lines.push(`${pid} ${cmdline}`);
  }
  return lines;
}
