/**
 * Holding a detached start on its host, for tests of starts that are still on their way: the
 * test points the start's `bootIdFile` at a FIFO, so the start script blocks in its read of
 * it (opening a FIFO waits for a writer) until the test writes the boot id.
 *
 * @module
 */

import { assertEquals, waitFor } from "../assert.ts";
import { listProcs, type ProcStat } from "./_proc.ts";

/** This machine's boot id, what a held start should read. */
export function bootId(): Promise<string> {
  return Deno.readTextFile("/proc/sys/kernel/random/boot_id");
}

/**
 * Makes a FIFO every test user can open.
 *
 * @param path Where.
 */
export async function makeFifo(path: string): Promise<void> {
  const mk = await new Deno.Command("mkfifo", { args: ["-m", "0666", path] }).output();
  assertEquals(mk.code, 0, `mkfifo ${path}`);
}

/**
 * Waits until a process that `match` accepts is blocked opening a FIFO.
 *
 * @param match Tells the held process from others (its cmdline, its ancestors ...).
 * @returns That process.
 */
export function heldOnFifo(match: (p: ProcStat) => Promise<boolean>): Promise<ProcStat> {
  return waitFor("the start to block on the FIFO", async () => {
    for (const p of await listProcs()) {
      const wchan = await Deno.readTextFile(`/proc/${p.pid}/wchan`).catch(() => "");
      if (wchan === "wait_for_partner" && await match(p)) return p;
    }
    return undefined;
  });
}

/**
 * Lets a held start go on: writes `text` into the FIFO. The write waits for the start to open
 * it, so it also proves the start got there; past 60 s (a safety net) it fails.
 *
 * @param fifo The FIFO.
 * @param text What the start reads (the boot id).
 */
export async function releaseFifo(fifo: string, text: string): Promise<void> {
  const child = new Deno.Command("timeout", {
    args: ["60", "sh", "-c", 'cat > "$1"', "sh", fifo],
    stdin: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  assertEquals((await child.status).code, 0, "the held start never read the FIFO");
}
