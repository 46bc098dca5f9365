/**
 * The program's control folder (its masters' sockets and ssh logs), and the removal of the
 * folders that programs killed with SIGKILL could not remove themselves.
 *
 * @module
 */

import { isAlive } from "../process/mod.ts";

const PREFIX = "dexp-";
/** How long a dead program's control folder must have been unchanged to be removed, in ms. */
const STALE_AFTER = 60_000;

/**
 * Where control folders go: in memory where there is a place for it (`$XDG_RUNTIME_DIR`, else
 * `/dev/shm` on Linux), else `/tmp`. Their files need no disk; on a disk file system each is
 * an inode to make and free, which costs the ssh processes CPU (1 ms or more per host on this
 * project's journal-less ext4 when many files were removed a moment before).
 *
 * @returns The folders to try, best first (`undefined`: the system's temporary folder).
 */
export function controlBases(): (string | undefined)[] {
  if (Deno.build.os !== "linux" && Deno.build.os !== "darwin") return [undefined];
  let runtime: string | undefined;
  try {
    runtime = Deno.env.get("XDG_RUNTIME_DIR");
  } catch {
    // No permission to read the environment: /dev/shm or /tmp then.
  }
  return [
    // Short: socket paths must fit in 108 bytes.
    ...(runtime?.startsWith("/") && runtime.length <= 64 ? [runtime] : []),
    ...(Deno.build.os === "linux" ? ["/dev/shm"] : []),
    "/tmp",
  ];
}

/**
 * Makes this program's control folder (0700, named `dexp-PID-RANDOM`) in the first base that
 * takes it, after removing the stale folders there (see {@linkcode removeStale}).
 *
 * @param bases Where to try, best first (default {@linkcode controlBases}).
 * @returns The folder's path.
 * @throws {Error} If no base takes it (the last one's error).
 */
export function makeControlDir(bases = controlBases()): string {
  for (const [i, base] of bases.entries()) {
    let dir: string;
    try {
      dir = Deno.makeTempDirSync({ dir: base, prefix: `${PREFIX}${Deno.pid}-` });
      Deno.chmodSync(dir, 0o700);
    } catch (e) {
      if (i === bases.length - 1) throw e;
      continue;
    }
    if (base) removeStale(base);
    return dir;
  }
  throw new Error("no folder to make a control folder in");
}

/**
 * Removes the control folders in `base` that no one needs any more: named after a program
 * (`dexp-PID-...`) that is no longer running, of this user, unchanged for a minute, holding no
 * socket (a master of a killed program still up has its socket there until it exits after
 * ControlPersist of idleness, and unlinks it). What is left in them is ssh's logs. Linux only
 * (it asks /proc); errors are ignored (another program may be removing the same folder).
 *
 * @param base The folder holding control folders.
 * @param now The time to measure "unchanged for a minute" from (ms since the epoch).
 * @returns The folders removed.
 */
export function removeStale(base: string, now = Date.now()): string[] {
  if (Deno.build.os !== "linux") return [];
  const removed: string[] = [];
  const uid = Deno.uid();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(base)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    const m = e.name.match(/^dexp-(\d+)-[A-Za-z0-9]+$/);
    if (!m || !e.isDirectory) continue;
    const pid = Number(m[1]);
    if (pid === Deno.pid || isAlive(pid)) continue;
    const path = `${base}/${e.name}`;
    try {
      const info = Deno.lstatSync(path);
      if (info.uid !== uid || now - (info.mtime?.getTime() ?? now) < STALE_AFTER) continue;
      const files = [...Deno.readDirSync(path)];
      if (files.some((f) => Deno.lstatSync(`${path}/${f.name}`).isSocket)) continue;
      Deno.removeSync(path, { recursive: true });
      removed.push(path);
    } catch {
      // Removed meanwhile, or not ours to look into.
    }
  }
  return removed;
}
