/**
 * The shell side of detached jobs: the POSIX sh scripts that start a job under its
 * supervisor, report the state of many jobs at once, read output, kill and forget.
 *
 * Every script runs through the normal command API (`target.run(script)`), so the same text
 * works over ssh (in the login shell, dash or bash) and locally (`/bin/sh`). It needs only sh,
 * coreutils (`mkdir`, `mv`, `date`, `sleep`, `head`, `tail`, `base64`, `wc`), `setsid`
 * (util-linux) and procps (`pkill`, `ps`) on the host. Every value that reaches a script is
 * validated and single-quoted.
 *
 * Layout of a job folder (0700; files 0600):
 * - `command`: the script the job runs, in the login shell; `cmdline`: the command as given;
 *   `supervise`: the supervisor; written by the start script, before the supervisor starts;
 * - `pid`: `PID START SUPPID SUPSTART` (start times are field 22 of `/proc/PID/stat`; the
 *   supervisor is the job's session leader, so both pairs name it), then `meta`: `key=value`
 *   lines (id, name, boot id, boot-id file, shell, heartbeat, created), written by the
 *   supervisor before the command starts. Each is one short `printf` (one write), and
 *   readers look for a job's state only once `meta` is there: listing skips a folder without
 *   it (a start under way), and a reference exists only once the start was confirmed;
 * - `stdout`, `stderr`: the output; `heartbeat`: the host's uptime in seconds (from
 *   `/proc/uptime`, no program start), rewritten every interval;
 * - `exit`: `STATUS`, written atomically (temp file + rename) when the command ends (STATUS
 *   128+N for signal N, as the shell reports it); the end time is the file's modification
 *   time; `killed`: the signal, when dexp was asked to kill.
 *
 * @module
 */

import { quote } from "../process/mod.ts";
import { shellPath } from "./names.ts";

/** Marks the line that confirms a start. */
export const STARTED = "DEXP-JOB-STARTED";
/** Marks the line that explains a failed start. */
export const FAILED = "DEXP-JOB-FAIL";

/** Reads field 3 (state) and 22 (start time) of /proc/PID/stat with builtins only. */
const PROC_FN = `dexp_proc() {
  dexp_n=$1
  dexp_l=
  { read -r dexp_l < "/proc/$2/stat"; } 2>/dev/null || { echo "$dexp_n none"; return 0; }
  dexp_l=\${dexp_l##*") "}
  set -- $dexp_l
  dexp_s=$1
  shift 19
  echo "$dexp_n $dexp_s $1"
}`;
/**
 * The supervisor, run as `setsid -f SHELL DIR/supervise DIR` (SHELL: the login shell for ssh
 * hosts, `/bin/sh` locally) by the start script, which `exec`s it: a session of its own, so
 * that it outlives the ssh session. Its standard output is the start command's own (the ssh
 * channel): it confirms the start there and closes it, and the start command ends then. It
 * records itself (pid and start time: the session id) and then the meta data (from `$m`, set
 * by the start script), runs the command in a subshell of the same session (no program
 * start: the command file is read with `.`), confirms, keeps the heartbeat, and writes the
 * exit status atomically when the command ends. Programs started before the confirm:
 * `setsid` and the shell; after it: `sleep` (heartbeat; no heartbeat at all once the command
 * has ended, a zombie in `/proc`) and `mv` (exit status).
 *
 * @param heartbeat Seconds between heartbeats.
 * @returns The script.
 */
export function supervisorScript(heartbeat: number): string {
  return `d=$1
read -r l < /proc/$$/stat
l=\${l##*") "}
set -- $l
shift 19
p="$$ $1 $$ $1"
printf '%s\\n' "$p" > "$d/pid" && printf '%s' "$m" > "$d/meta" || { rm -rf -- "$d"; echo '${FAILED} the supervisor could not write its pid'; exit 126; }
( DEXP_JOB_DIR=$d; export DEXP_JOB_DIR; unset l d p m; set --; . "$DEXP_JOB_DIR/command" ) </dev/null >"$d/stdout" 2>"$d/stderr" &
c=$!
echo "${STARTED} $p"
exec >/dev/null
h=
{ read -r l < /proc/$c/stat; } 2>/dev/null
case \${l##*") "} in Z*) ;; *) ( trap 'kill "$z"; exit 0' TERM; while { read -r l < /proc/$c/stat; } 2>/dev/null; do case \${l##*") "} in Z*) exit 0 ;; esac; sleep ${heartbeat} & z=$!; wait "$z"; [ -d "$d" ] || exit 0; read -r u x < /proc/uptime; printf '%s\\n' "\${u%.*}" > "$d/heartbeat"; done ) & h=$! ;;
esac
wait "$c"
printf '%s\\n' "$?" > "$d/.exit.tmp" && mv -f -- "$d/.exit.tmp" "$d/exit"
[ -n "$h" ] && { read -r l < /proc/$h/stat; } 2>/dev/null && set -- \${l##*") "} && [ "$2" = $$ ] && kill "$h"
exit 0
`;
}

/** What a start needs. */
export interface StartSpec {
  /** The checked jobs root (`~/...` or absolute). */
  readonly root: string;
  /** The checked job id. */
  readonly id: string;
  /** The checked job name. */
  readonly name: string;
  /** The file that holds the boot id (checked path). */
  readonly bootIdFile: string;
  /** Seconds between heartbeats. */
  readonly heartbeat: number;
  /** The script the job runs (cd, exports, the command). */
  readonly command: string;
  /** The command as the user wrote it, for results. */
  readonly display: string;
  /** When the job was created (ms since the epoch, the controller's clock). */
  readonly created: number;
  /** Run the command in the login shell (`$SHELL`, ssh hosts) or in `/bin/sh` (local). */
  readonly loginShell: boolean;
  /**
   * Keep the supervisor in the FOREGROUND of the start command for the job's whole life
   * (`setsid -w`: a session of its own, waited for), for transports whose remote processes
   * end with the command that started them (a Slurm job step). Default false: the supervisor
   * goes to the background (`setsid -f`) and the start command ends once it confirmed.
   */
  readonly foreground?: boolean;
}

/**
 * The script that creates the job folder (`mkdir`, the only program it starts), writes the
 * command with shell builtins, and `exec`s the supervisor, which prints
 * `DEXP-JOB-STARTED PID START SUPPID SUPSTART` on this command's standard output once the job
 * runs (or `DEXP-JOB-FAIL why`). No line at all means that the supervisor did not start (the
 * caller removes the folder with {@linkcode forgetScript}).
 *
 * @param s What to start.
 * @returns The script.
 */
export function startScript(s: StartSpec): string {
  const id = quote(s.id);
  return `umask 077
r=${shellPath(s.root)}
d="$r"/${id}
[ -d "$r" ] || mkdir -p -- "$r" || { echo '${FAILED} cannot create the jobs folder'; exit 1; }
mkdir -- "$d" 2>/dev/null || { [ -d "$d" ] && echo '${FAILED} the job folder exists already' || echo '${FAILED} cannot create the job folder'; exit 1; }
bf=${quote(s.bootIdFile)}
b=
{ read -r b < "$bf"; } 2>/dev/null
s=${s.loginShell ? '"${SHELL:-/bin/sh}"' : "/bin/sh"}
printf '%s\\n' ${quote(s.command)} > "$d/command"
printf '%s' ${quote(s.display)} > "$d/cmdline"
printf '%s' ${quote(supervisorScript(s.heartbeat))} > "$d/supervise"
m=${quote(`v=1\nid=${s.id}\nname=${s.name}\n`)}"boot=$b
bootfile=$bf
shell=$s"${quote(`\nheartbeat=${s.heartbeat}\ncreated=${s.created}\n`)}
export m
exec setsid ${s.foreground ? "-w" : "-f"} "$s" "$d/supervise" "$d" 2>/dev/null </dev/null
`;
}

/** A job on one host, as the scripts see it. */
export interface JobPlace {
  /** The checked jobs root. */
  readonly root: string;
  /** The checked job id. */
  readonly id: string;
}

function dir(j: JobPlace): string {
  return `${shellPath(j.root)}/${quote(j.id)}`;
}

const STATUS_FN = `${PROC_FN}
dexp_one() {
  d=$1
  echo "@job $2"
  [ -d "$d" ] || { echo gone; return 0; }
  bf=/proc/sys/kernel/random/boot_id
  if [ -f "$d/meta" ]; then
    while IFS= read -r l; do
      case $l in bootfile=*) bf=\${l#bootfile=} ;; esac
      echo "meta $l"
    done < "$d/meta"
  fi
  b=
  { read -r b < "$bf"; } 2>/dev/null
  echo "bootnow $b"
  if [ -f "$d/pid" ] && read -r c cs s ss < "$d/pid"; then
    echo "pid $c $cs $s $ss"
    dexp_proc cproc "$c"
    dexp_proc sproc "$s"
  fi
  x=
  [ -f "$d/heartbeat" ] && read -r x < "$d/heartbeat"
  echo "hb $x"
  if [ -f "$d/exit" ] && read -r x < "$d/exit"; then
    echo "exit $x $(date -r "$d/exit" +%s%3N)"
    [ -f "$d/killed" ] && read -r x < "$d/killed" && echo "killed $x"
  fi
  return 0
}
dexp_now() {
  read -r u x < /proc/uptime
  echo "@now \${u%.*}"
}`;

/**
 * The script that reports the state of several jobs of one host in one round trip: per job
 * an `@job ID` block of `key value` lines, then `@now UPTIME` (seconds).
 *
 * @param jobs The jobs (on the same host).
 * @returns The script.
 */
export function statusScript(jobs: readonly JobPlace[]): string {
  return `${STATUS_FN}
${jobs.map((j) => `dexp_one ${dir(j)} ${quote(j.id)}`).join("\n")}
dexp_now
`;
}

/**
 * The script that reports every job under a root (for listing), like {@linkcode statusScript}.
 *
 * @param root The checked jobs root.
 * @returns The script.
 */
export function listScript(root: string): string {
  return `${STATUS_FN}
r=${shellPath(root)}
if [ -d "$r" ]; then
  for d in "$r"/*; do
    [ -s "$d/meta" ] || continue
    dexp_one "$d" "\${d##*/}"
  done
fi
dexp_now
`;
}

/**
 * The script that ends jobs: signals every process of each job's session except its
 * supervisor (the session leader, which then records the end), waits up to the grace period,
 * sends SIGKILL to what is left, then waits until the sessions are empty. A job whose
 * recorded start time does not match its pid is not touched.
 *
 * @param jobs The jobs (on the same host).
 * @param signal The first signal, without `SIG` (checked by the caller).
 * @param graceMs Time before SIGKILL.
 * @returns The script.
 */
export function killScript(jobs: readonly JobPlace[], signal: string, graceMs: number): string {
  const tenths = Math.max(0, Math.ceil(graceMs / 100));
  return `${PROC_FN}
sids=
keep=
dexp_kill() {
  d=$1
  [ -f "$d/pid" ] && read -r c cs s ss < "$d/pid" || return 0
  [ -f "$d/killed" ] || { printf '%s\\n' ${signal} > "$d/.killed.tmp" && mv -f -- "$d/.killed.tmp" "$d/killed"; }
  set -- $(dexp_proc x "$c")
  [ "$2" = none ] || [ "$3" = "$cs" ] || return 0
  sids=\${sids:+$sids,}$c
  keep="$keep $c"
}
dexp_signal() {
  for p in $(pgrep -s "$sids"); do
    case " $keep " in *" $p "*) ;; *) kill -s "$1" "$p" 2>/dev/null ;; esac
  done
}
dexp_others() {
  [ -n "$sids" ] || return 1
  for p in $(pgrep -s "$sids"); do
    case " $keep " in *" $p "*) continue ;; esac
    set -- $(dexp_proc x "$p")
    case $2 in none|Z|X) continue ;; esac
    return 0
  done
  return 1
}
dexp_any() {
  [ -n "$sids" ] || return 1
  ps -o stat= -s "$sids" 2>/dev/null | grep -qv '^Z'
}
${jobs.map((j) => `dexp_kill ${dir(j)}`).join("\n")}
[ -n "$sids" ] && dexp_signal ${signal}
i=0
while [ $i -lt ${tenths} ] && dexp_others; do sleep 0.1; i=$((i+1)); done
if dexp_others; then
  dexp_signal KILL
  i=0
  while [ $i -lt 100 ] && dexp_others; do sleep 0.1; i=$((i+1)); done
fi
i=0
while [ $i -lt 100 ] && dexp_any; do sleep 0.1; i=$((i+1)); done
dexp_any && echo "still running: sessions $sids"
echo done
`;
}

/**
 * The script that reads a window of a job's output: prints `state done|running`, the file's
 * size, then the bytes from `from` (at most `max`) in base64 on one line.
 *
 * @param job The job.
 * @param stream `stdout` or `stderr`.
 * @param from Byte offset.
 * @param max Most bytes to read.
 * @returns The script.
 */
export function readScript(
  job: JobPlace,
  stream: "stdout" | "stderr",
  from: number,
  max: number,
): string {
  return `d=${dir(job)}
f="$d/${stream}"
[ -d "$d" ] || { echo gone; exit 0; }
if [ -f "$d/exit" ]; then echo "state done"; else echo "state running"; fi
[ -f "$f" ] || { echo "size 0"; echo; exit 0; }
echo "size $(wc -c < "$f")"
tail -c +${from + 1} -- "$f" | head -c ${max} | base64 -w 0
echo
`;
}

/**
 * The script that reads what a result needs: the command as given, and per stream its size
 * and its head and tail (base64), at most `limit` bytes in all per stream.
 *
 * @param job The job.
 * @param limit Bytes of each stream kept (head and tail halves).
 * @returns The script.
 */
export function resultScript(job: JobPlace, limit: number): string {
  const head = Math.ceil(limit / 2);
  const tail = Math.floor(limit / 2);
  return `d=${dir(job)}
[ -d "$d" ] || { echo gone; exit 0; }
echo "cmd $(base64 -w 0 < "$d/cmdline")"
while IFS= read -r l; do case $l in created=*) echo "created \${l#created=}" ;; esac; done < "$d/meta"
for f in stdout stderr; do
  n=0
  [ -f "$d/$f" ] && n=$(wc -c < "$d/$f")
  echo "size $f $n"
  if [ "$n" -le ${limit} ]; then
    echo "all $f $(base64 -w 0 < "$d/$f")"
  else
    echo "head $f $(head -c ${head} -- "$d/$f" | base64 -w 0)"
    echo "tail $f $(tail -c ${tail} -- "$d/$f" | base64 -w 0)"
  fi
done
`;
}

/**
 * The script that removes job folders (the caller kills running jobs first).
 *
 * @param jobs The jobs (on the same host).
 * @returns The script.
 */
export function forgetScript(jobs: readonly JobPlace[]): string {
  return `${jobs.map((j) => `rm -rf -- ${dir(j)}`).join("\n")}
echo done
`;
}
