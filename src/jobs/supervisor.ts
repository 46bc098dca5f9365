/**
 * The shell side of detached jobs: the POSIX sh scripts that start a job under its
 * supervisor, report the state of many jobs at once, read output, kill and forget.
 *
 * Every script runs through the normal command API (`target.run(script)`), so the same text
 * works over ssh (in the login shell, dash or bash) and locally (`/bin/sh`). It needs only sh,
 * coreutils (`mkdir`, `mv`, `date`, `sleep`, `head`, `tail`, `base64`, `wc`), procps (`pkill`,
 * `ps`), and for local jobs `setsid` (util-linux) on the host. Every value that reaches a script is
 * validated and single-quoted.
 *
 * Layout of a job folder (0700; files 0600):
 * - `cmdline`: the command as given, written by the start script before the supervisor starts
 *   (the command itself reaches the supervisor in a shell variable, not a file);
 * - `pid`: `SID SIDSTART SUPPID SUPSTART`: the job's session (its id and the start time of its
 *   leader, the shell of the start command) and the supervisor (start times are field 22 of
 *   `/proc/PID/stat`), then `meta`: `key=value` lines (id, name, boot id, boot-id file, shell,
 *   heartbeat, created), written by the supervisor before the command starts. Each is one
 *   short `printf` (one write), and readers look for a job's state only once `meta` is there:
 *   listing skips a folder without it (a start under way), and a reference exists only once
 *   the start was confirmed;
 * - `stdout`, `stderr`: the output; `heartbeat`: the host's uptime in seconds (from
 *   `/proc/uptime`, no program start), rewritten every interval;
 * - `exit`: `STATUS` and a newline, written atomically when the command ends (STATUS 128+N for
 *   signal N, as the shell reports it); the end time is the file's modification time;
 *   `killed`: the signal, when dexp was asked to kill (temp file + rename).
 *
 * The exit record is published by one `write(2)` of at most five bytes into a new file, not
 * by temp file + rename: a reader sees either no file, an empty one, or the whole record (the
 * kernel sets the file's size only once the bytes are in), and every reader takes the status
 * only from a complete line (`read` fails without the newline), so it never sees a partial
 * status. Both ways are equally durable (neither syncs), and this one starts no program (an
 * `mv` per job cost about 0.5 ms of CPU on our test hosts; see bench/jobs.ts).
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
 * Joins shell statements into as few lines as the grammar allows: the start script travels on
 * one line of the ssh channel, where every newline costs 12 bytes of quoting and the remote
 * shell reads every byte with its own system call. A statement that ends in `&`, `{`, `|` or
 * the word `do`, `then` or `else` is followed by a space, every other by `;` (so a value such
 * as a path `/a/do` is not taken for a keyword).
 */
function compact(statements: readonly string[]): string {
  let out = "";
  for (const st of statements) {
    if (out !== "") out += /(&|\{|\||(^|[\s;])(do|then|else))$/.test(out) ? " " : ";";
    out += st;
  }
  return out;
}

/**
 * The supervisor: a background subshell of the start command's shell, so that no program
 * starts for it. That shell leads a session of its own: sshd makes every session's login
 * shell a session leader (the same fact the remote kill of attached commands stands on),
 * and locally the start script runs under `setsid`. The supervisor stays in that session
 * when the shell has exited, and so does the command: the session is the job's, and nothing
 * else is in it. Its standard output is the start command's own (the ssh channel): it
 * confirms the start there and closes it, and the start command ends then.
 *
 * It records the session (id and the start time of its leader, `$sid $sst`, read by the
 * start script) and itself (pid and start time), then the meta data, runs the command
 * (`$x`, with `eval`) in a subshell of the same session, confirms, keeps the heartbeat, and
 * writes the exit status atomically when the command ends. The only program it starts is
 * `sleep`, for the heartbeat, and none once the command has ended (a zombie in `/proc`).
 *
 * @param heartbeat Seconds between heartbeats.
 * @param meta The statement that writes the meta data.
 * @param foreground Run in the start command's shell itself (the session leader), which then
 *   lives as long as the job, instead of in a background subshell.
 * @returns The subshell (or group), for the start script.
 */
function supervisorScript(heartbeat: number, meta: string, foreground: boolean): string {
  // The heartbeat: a subshell that rewrites the uptime every interval while the command runs,
  // started only if the command did not end already (a zombie in /proc).
  const beat = compact([
    `( trap 'kill "$z";exit 0' TERM`,
    "while { read -r l </proc/$c/stat;} 2>/dev/null",
    'do case ${l##*") "} in Z*) exit 0;; esac',
    `sleep ${heartbeat} &`,
    "z=$!",
    'wait "$z"',
    '[ -d "$d" ]||exit 0',
    "read -r u x </proc/uptime",
    'echo "${u%.*}" >"$d/heartbeat"',
    "done ) &",
    "h=$!",
  ]);
  const body = compact([
    "read -r l </proc/self/stat",
    "sp=${l%% (*}",
    'l=${l##*") "}',
    "set -- $l",
    "shift 19",
    'p="$sid $sst $sp $1"',
    `echo "$p" >"$d/pid"&&${meta}||{ rm -rf -- "$d";echo ${FAILED} pid;exit 126;}`,
    '(DEXP_JOB_DIR=$d;export DEXP_JOB_DIR;unset l d p sp b bf r n e sid sst;set --;eval "unset x;$x") </dev/null >"$d/stdout" 2>"$d/stderr" &',
    "c=$!",
    // The confirmation may find its channel gone (the controller's connection dropped): the
    // supervisor must not die of SIGPIPE there, or the job would run on unsupervised. The
    // command, forked before, keeps the default.
    "trap '' PIPE",
    `echo "${STARTED} $p"`,
    "exec >/dev/null",
    "h=",
    "{ read -r l </proc/$c/stat;} 2>/dev/null",
    `case \${l##*") "} in Z*) ;; *) ${beat};; esac`,
    'wait "$c"',
    // One write of a newline-terminated status (see the module doc).
    'echo $? >"$d/exit"',
    '[ -n "$h" ]&&{ read -r l </proc/$h/stat;} 2>/dev/null&&l=${l##*") "}&&set -- $l&&[ "$2" = "$sp" ]&&kill "$h"',
    "exit 0",
  ]);
  return foreground ? `{ ${body};} </dev/null 2>/dev/null` : `(${body}) </dev/null 2>/dev/null &`;
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
  /**
   * Over ssh: the script runs in the login shell, which sshd made a session leader. Locally
   * (false): it runs under `setsid`, in `/bin/sh`.
   */
  readonly loginShell: boolean;
  /**
   * Keep the supervisor in the FOREGROUND of the start command for the job's whole life, for
   * transports whose remote processes end with the command that started them (a Slurm job
   * step): the script runs under `setsid -w` (a session of its own, waited for) and the
   * supervisor is that session's leader itself, not a background subshell. Default false: the
   * supervisor goes to the background and the start command ends once it confirmed. Only
   * without `loginShell`.
   */
  readonly foreground?: boolean;
  /**
   * A claim key (a checked word, often the name) to claim first (see
   * {@linkcode claimScript}): the start fails with `taken`, having run nothing, if a start
   * claimed it already or a controller fenced it off.
   */
  readonly claim?: string;
}

/**
 * Why a start failed, by the code the start script prints after {@linkcode FAILED}.
 */
export const START_FAILURES: Readonly<Record<string, string>> = {
  root: "cannot create the jobs folder",
  exists: "the job folder exists already",
  dir: "cannot create the job folder",
  leader: "the session leader is gone",
  pid: "the supervisor could not write its pid",
  taken:
    "its name is taken on the host: a job of that name started there, or a controller fenced the name off (claimJobName)",
  claim: "cannot write the name's claim in ROOT/.names on the host (is the disk full?)",
};

/** The folder of name claims under a jobs root (a dot folder: listing skips it). */
const CLAIMS = ".names";

/**
 * The script that creates the job folder (`mkdir`, the only program it starts), writes the
 * command line and starts the supervisor in the background, which prints
 * `DEXP-JOB-STARTED SID SIDSTART SUPPID SUPSTART` on this command's standard output once the
 * job runs (or `DEXP-JOB-FAIL CODE`, a key of {@linkcode START_FAILURES}). No line at all
 * means that the supervisor did not start (the caller removes the folder with
 * {@linkcode forgetScript}).
 *
 * @param s What to start.
 * @returns The script.
 */
export function startScript(s: StartSpec): string {
  const shell = s.loginShell ? '"${SHELL:-/bin/sh}"' : "/bin/sh";
  const script = compact([
    "umask 077",
    `r=${shellPath(s.root)}`,
    `d="$r"/${quote(s.id)}`,
    `[ -d "$r" ]||mkdir -p -- "$r"||{ echo ${FAILED} root;exit 1;}`,
    `mkdir -- "$d" 2>/dev/null||{ [ -d "$d" ]&&echo ${FAILED} exists||echo ${FAILED} dir;exit 1;}`,
    `bf=${quote(s.bootIdFile)}`,
    "b=",
    '{ read -r b <"$bf";} 2>/dev/null',
    // The name's claim: a file made with O_EXCL (noclobber), holding the job id. Only the
    // first start of the name, or a fence, makes it; nothing has run before it.
    ...(s.claim !== undefined
      ? [
        `n="$r"/${CLAIMS}`,
        `[ -d "$n" ]||mkdir -p -- "$n"||{ rm -rf -- "$d";echo ${FAILED} root;exit 1;}`,
        "set -C",
        `{ echo ${quote(s.id)} >"$n"/${quote(s.claim)};} 2>/dev/null`,
        "e=$?",
        "set +C",
        // Taken only if someone else's claim is there: else the write failed (disk full, no
        // permission), which says so.
        `[ $e = 0 ]||{ rm -rf -- "$d";[ -s "$n"/${
          quote(s.claim)
        } ]&&echo ${FAILED} taken||echo ${FAILED} claim;exit 1;}`,
      ]
      : []),
    // The session: field 6 of this shell's stat, and the start time of its leader.
    "read -r l </proc/self/stat",
    'l=${l##*") "}',
    "set -- $l",
    "sid=$4",
    `{ read -r l </proc/$sid/stat;} 2>/dev/null||{ rm -rf -- "$d";echo ${FAILED} leader;exit 1;}`,
    'l=${l##*") "}',
    "set -- $l",
    "shift 19",
    "sst=$1",
    `printf %s ${quote(s.display)} >"$d/cmdline"`,
    `x=${quote(s.command)}`,
    supervisorScript(
      s.heartbeat,
      // The meta data, in one printf (one write).
      `printf 'v=2\\nid=%s\\nname=%s\\nboot=%s\\nbootfile=%s\\nshell=%s\\nheartbeat=%s\\ncreated=%s\\n${
        s.claim !== undefined ? "claim=%s\\n" : ""
      }' ${quote(s.id)} ${quote(s.name)} "$b" "$bf" ${shell} ${s.heartbeat} ${s.created}${
        s.claim !== undefined ? ` ${quote(s.claim)}` : ""
      } >"$d/meta"`,
      s.foreground === true,
    ),
  ]);
  if (s.loginShell) {
    if (s.foreground) throw new TypeError("A foreground supervisor needs a start under setsid");
    return script;
  }
  return `exec setsid ${s.foreground ? "-w" : "-f"} /bin/sh -c ${quote(script)} </dev/null\n`;
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
 * supervisor (which then records the end), waits up to the grace period,
 * sends SIGKILL to what is left, then waits until the sessions are empty. A job is not touched
 * when a process holds the pid of its session leader or of its supervisor with another start
 * time than the recorded one: that pid was given to another process, so the job has ended (a
 * session id stays taken while any process is in the session).
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
  set -- $(dexp_proc x "$s")
  [ "$2" = none ] || [ "$3" = "$ss" ] || return 0
  sids=\${sids:+$sids,}$c
  keep="$keep $s"
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
if [ -f "$d/exit" ] && read -r x < "$d/exit"; then echo "state done"; else echo "state running"; fi
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
 * The script that claims a job name under a root, or says who holds it. The claim is the file
 * `ROOT/.names/NAME`, made with `O_EXCL` (the shell's noclobber) and holding the id of the job
 * whose start made it, or `-` for a fence that this script made. It prints one line:
 * `claim fenced` (this script made the fence: no start of the name can run from now on),
 * `claim fence` (an earlier fence), `claim job ID started|starting|failed AGE` (a start made
 * it: its job runs or ran (meta written), is still starting, or failed and removed its
 * folder), or `claim empty AGE` (a claim being written); AGE is the claim's age in seconds.
 *
 * @param root The checked jobs root.
 * @param name The checked job name.
 * @returns The script.
 */
export function claimScript(root: string, name: string): string {
  return `umask 077
r=${shellPath(root)}
n="$r"/${CLAIMS}
c="$n"/${quote(name)}
[ -d "$n" ] || mkdir -p -- "$n" || exit 1
set -C
if { echo - >"$c"; } 2>/dev/null; then echo "claim fenced"; exit 0; fi
set +C
[ -f "$c" ] || exit 1
x=
read -r x <"$c"
a=$(( $(date +%s) - $(date -r "$c" +%s) ))
case $x in
  "") echo "claim empty $a" ;;
  -) echo "claim fence" ;;
  *[!A-Za-z0-9._-]*) echo "claim fence" ;;
  *)
    if [ -s "$r/$x/meta" ]; then s=started; elif [ -d "$r/$x" ]; then s=starting; else s=failed; fi
    echo "claim job $x $s $a" ;;
esac
`;
}

/**
 * The script that removes job folders (the caller kills running jobs first), and each job's
 * claim if that job made it (its meta data names the key; a fence stays: a start of that key
 * may still come).
 *
 * @param jobs The jobs (on the same host).
 * @returns The script.
 */
export function forgetScript(jobs: readonly JobPlace[]): string {
  return `dexp_forget() {
  d=$1
  n=
  if [ -f "$d/meta" ]; then
    while IFS= read -r l; do case $l in claim=*) n=\${l#claim=} ;; esac; done < "$d/meta"
  fi
  case $n in ""|*[!A-Za-z0-9._-]*) ;; *)
    c=$2/${CLAIMS}/$n
    x=
    [ -f "$c" ] && read -r x < "$c" && [ "$x" = "$3" ] && rm -f -- "$c"
  ;; esac
  rm -rf -- "$d"
}
${jobs.map((j) => `dexp_forget ${dir(j)} ${shellPath(j.root)} ${quote(j.id)}`).join("\n")}
echo done
`;
}
