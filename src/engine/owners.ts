/**
 * Owners of a combination's commands, on disk: before an attempt starts a command, the
 * targets it runs on and the attempt's token (set as `DEXP_ATTEMPT` in the command's
 * environment) are appended to `<combination>/.owners.jsonl`. When a later process takes
 * the combination back from an owner that died, it ends every process that carries one of
 * the recorded tokens, on every recorded host, before the combination runs again.
 *
 * @module
 */

import { type Group, local } from "../action/mod.ts";
import { join, quote } from "../process/mod.ts";

/** The file, in the combination's folder. */
export const OWNERS_FILE = ".owners.jsonl";

/** One line of the owners file. */
export interface OwnerRecord {
  /** The attempt's token (`DEXP_ATTEMPT`). */
  token: string;
  /** The attempt number. */
  attempt: number;
  /** Labels of the targets the command runs on. */
  targets: string[];
  /** The machine and process of the runner. */
  host: string;
  /** The runner's process id. */
  pid: number;
  /** When the command was recorded (ISO 8601), just before it started. */
  start: string;
}

const LOCAL_LABEL = /^local(\[\d+\])?$/;
const encoder = new TextEncoder();

/**
 * Appends a record to the owners file and flushes it to disk, before the command starts.
 *
 * @param dir The combination's folder.
 * @param rec The record.
 */
export function recordOwner(dir: string, rec: OwnerRecord): void {
  const data = encoder.encode(JSON.stringify(rec) + "\n");
  const f = Deno.openSync(join(dir, OWNERS_FILE), { append: true, create: true });
  try {
    // One write with O_APPEND: lines of concurrent writers never interleave.
    let at = 0;
    while (at < data.length) at += f.writeSync(data.subarray(at));
    f.syncSync();
  } finally {
    f.close();
  }
}

/**
 * Reads the owners file; a torn last line (a crash while writing) is ignored.
 *
 * @param dir The combination's folder.
 * @returns The records, or an empty list if there is no file.
 */
export async function readOwners(dir: string): Promise<OwnerRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, OWNERS_FILE));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const out: OwnerRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line) as OwnerRecord;
      if (typeof r.token === "string" && Array.isArray(r.targets)) out.push(r);
    } catch { /* torn line */ }
  }
  return out;
}

/**
 * Removes the owners file (every recorded command has ended).
 *
 * @param dir The combination's folder.
 */
export async function clearOwners(dir: string): Promise<void> {
  await Deno.remove(join(dir, OWNERS_FILE)).catch(() => {});
}

/**
 * A POSIX sh script that ends every process of this user whose environment holds one of the
 * tokens: it stops them all (so none forks meanwhile), kills them, and repeats until none is
 * left. It prints `dexp-takeback ended=N left=M` (N distinct processes) and exits 0 when none
 * is left.
 *
 * @param tokens The attempt tokens.
 * @returns The script.
 */
export function takeBackScript(tokens: readonly string[]): string {
  const pats = tokens.map((t) => `-e ${quote(`DEXP_ATTEMPT=${t}`)}`).join(" ");
  return [
    "me=$$",
    // One grep over every environ file where grep knows -z (GNU, busybox); else one per file.
    "if printf 'a\\000' | grep -qzx a 2>/dev/null; then",
    "  find_pids() {",
    `    grep -lzxF ${pats} /proc/[0-9]*/environ 2>/dev/null |`,
    `      sed -e 's#^/proc/##' -e 's#/environ$##' | grep -vx "$me"`,
    "  }",
    "else",
    "  find_pids() {",
    "    for d in /proc/[0-9]*; do",
    '      p=${d#/proc/}; [ "$p" = "$me" ] && continue',
    `      if tr '\\000' '\\n' 2>/dev/null < "$d/environ" | grep -qxF ${pats}; then echo "$p"; fi`,
    "    done",
    "  }",
    "fi",
    'n=0; i=0; seen=" "',
    "while [ $i -lt 50 ]; do",
    '  pids=$(find_pids); [ -z "$pids" ] && break',
    "  for p in $pids; do kill -STOP $p 2>/dev/null; done",
    "  for p in $pids; do",
    "    kill -KILL $p 2>/dev/null",
    '    case "$seen" in *" $p "*) ;; *) seen="$seen$p "; n=$((n+1)) ;; esac',
    "  done",
    "  i=$((i+1)); sleep 0.1 2>/dev/null || sleep 1",
    "done",
    "left=$(find_pids | wc -l | tr -d ' ')",
    'echo "dexp-takeback ended=$n left=$left"',
    '[ "$left" = 0 ]',
  ].join("\n");
}

/** What a take-back did on one host. */
export interface TakeBack {
  /** The host label (`local` for this machine). */
  host: string;
  /** Distinct processes ended. */
  ended: number;
  /** Why it could not make sure none is left, if it could not. */
  error?: string;
  /** Why it did not try (local processes of a runner on another machine), if it did not. */
  skipped?: string;
}

/**
 * Ends the processes of dead attempts: on each recorded host (found among `hosts` by label;
 * local labels on this machine), every process whose environment holds a recorded token.
 *
 * @param hosts The experiment's hosts.
 * @param records The owners file's records.
 * @returns One entry per host.
 */
export async function takeBack(hosts: Group, records: readonly OwnerRecord[]): Promise<TakeBack[]> {
  const byHost = new Map<string, Set<string>>();
  const elsewhere = new Set<string>();
  const me = Deno.hostname();
  for (const r of records) {
    for (const t of r.targets) {
      if (LOCAL_LABEL.test(t) && r.host !== me) {
        elsewhere.add(r.host);
        continue;
      }
      const key = LOCAL_LABEL.test(t) ? "local" : t;
      if (!byHost.has(key)) byHost.set(key, new Set());
      byHost.get(key)!.add(r.token);
    }
  }
  // A claim of a runner on another machine is taken back when its lease expired: that
  // machine stopped (or lost the shared folder); its local processes cannot be reached here.
  const skipped = [...elsewhere].map((h): TakeBack => ({
    host: `local of ${h}`,
    ended: 0,
    skipped: `the runner ran on '${h}', not on this machine`,
  }));
  return [
    ...skipped,
    ...await Promise.all([...byHost].map(async ([label, tokens]): Promise<TakeBack> => {
      const group = label === "local" ? local(1) : hosts.where((t) => t.label === label);
      if (group.targets.length === 0) {
        return { host: label, ended: 0, error: "the host is not among the experiment's hosts" };
      }
      const r = (await group.run(takeBackScript([...tokens])).noThrow().quiet()).results[0];
      const m = /dexp-takeback ended=(\d+) left=(\d+)/.exec(r.stdout);
      if (!m) {
        return {
          host: label,
          ended: 0,
          error: r.reason ?? (r.stderr.trim().split("\n").pop() || `exit code ${r.exitCode}`),
        };
      }
      const ended = Number(m[1]);
      return m[2] === "0"
        ? { host: label, ended }
        : { host: label, ended, error: `${m[2]} process(es) could not be ended` };
    })),
  ];
}
