/**
 * Fan-out against the peers, whole-process times, all tools in the same run on the same
 * testbed (loopback sshd with OpenSSH's default key exchange): `true` on N cold hosts with a
 * raw `ssh` loop, a bare Deno program that starts the same `ssh` processes (no dexp: the floor
 * of any Deno program), the same program with dexp imported but unused (the floor of any program
 * that loads dexp's code), pdsh, pssh (parallel-ssh), clush, dexp, dexp with `kex: "fast"`, and
 * a second dexp program that finds the connections the first one persisted. Median of R runs.
 * The dexp program reports its peak RSS (VmHWM), shown in the last column.
 *
 *   deno run -A bench/fanout.ts [SIZES] [--reps=5] [--large-reps=1] [--fast-from=256]
 *                               [--fast-all] [--install]
 *
 *   SIZES         comma-separated host counts (default 8,32,64,256,1024; up to 1024)
 *   --reps        runs per cell below 256 hosts (default 5; a bare second number works too)
 *   --large-reps  runs per cell from 256 hosts on (default 1: a cold 1,024 costs ~20 s a tool)
 *   --fast-from   from this many hosts on, every tool uses curve25519 first (default 256;
 *                 a cold default-kex login costs ~105 ms of CPU here, ~35 ms with curve25519)
 *   --fast-all    every tool with curve25519 first at every size
 *   --install     apt-get install -y pdsh pssh clustershell first (never in CI)
 *
 * The whole default run takes about 10 minutes on 2 idle cores.
 *
 * Needs root (it starts sshd; see tests/harness/sshd.ts). A tool that is not installed is
 * reported as "-".
 */
import { startTestbed, type Testbed, USERS } from "../tests/harness/sshd.ts";

const flags = Deno.args.filter((a) => a.startsWith("--"));
const positional = Deno.args.filter((a) => !a.startsWith("--"));
function flag(name: string, fallback: number): number {
  const a = flags.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(v) || v <= 0) {
    throw new TypeError(`'--${name}' must be a positive integer: received '${a}'`);
  }
  return v;
}

const sizes = (positional[0] ?? "8,32,64,256,1024").split(",").map(Number);
const runs = flag("reps", Number(positional[1] ?? 5));
const largeRuns = flag("large-reps", 1);
const fastFrom = flags.includes("--fast-all") ? 1 : flag("fast-from", 256);
const LARGE = 256;
const FAST = "^curve25519-sha256,curve25519-sha256@libssh.org";

if (flags.includes("--install")) {
  const r = await new Deno.Command("apt-get", {
    args: ["install", "-y", "pdsh", "pssh", "clustershell"],
    stdout: "null",
  }).output();
  if (r.code !== 0) console.error("apt-get install failed: the missing tools are skipped");
}

function has(tool: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
    .outputSync().code === 0;
}

/** An ssh_config with the testbed's hosts (h1...hN), with the fast kex or the default. */
async function config(tb: Testbed, dir: string, fastAll: boolean): Promise<string> {
  const base = await Deno.readTextFile(tb.sshConfig);
  const path = `${dir}/ssh_config${fastAll ? "_fast" : ""}`;
  await Deno.writeTextFile(
    path,
    (fastAll ? `Host *\n  KexAlgorithms ${FAST}\n` : "") + base +
      "\n  BatchMode yes\n  ControlMaster no\n  ControlPath none\n",
  );
  return path;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The repository's deno.json, for the programs that import dexp. */
const DENO_CONFIG = `--config=${new URL("../deno.json", import.meta.url).pathname}`;

/** Fills the module cache for a program (not timed), so no run pays for it. */
async function fillCache(file: string): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: ["cache", DENO_CONFIG, file],
    stdout: "null",
    stderr: "null",
  }).output();
}

/** The peak RSS (VmHWM, kB) the last dexp program printed. */
let lastRss = 0;

async function timed(argv: string[], env: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const rss = new TextDecoder().decode(r.stdout).match(/^VmHWM (\d+)$/m);
  if (rss) lastRss = Number(rss[1]);
  const ms = performance.now() - t;
  if (r.code !== 0) {
    throw new Error(
      `${argv[0]} failed (${r.code}): ${new TextDecoder().decode(r.stderr).slice(-500)}`,
    );
  }
  return ms;
}

async function dexpProgram(
  tb: Testbed,
  dir: string,
  n: number,
  extra: Record<string, unknown>,
  fastAll: boolean,
): Promise<string[]> {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const spec = tb.hosts.slice(0, n).map(({ name, address, port }) => ({ name, address, port }));
  const params = {
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
    ...(fastAll ? { kex: "fast" } : {}),
    ...extra,
  };
  const file = `${dir}/dexp_${n}_${Object.keys(extra).join("_") || "default"}${
    fastAll ? "_fast" : ""
  }.ts`;
  await Deno.writeTextFile(
    file,
    `import { hosts } from ${JSON.stringify(mod)};
await using n = hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
await n.run("true").quiet();
console.log("VmHWM", Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\\s+(\\d+)/m)![1]);
`,
  );
  await fillCache(file);
  return [Deno.execPath(), "run", "-A", "--no-check", DENO_CONFIG, file];
}

/**
 * A Deno program with no library: the same `ssh -F CONFIG HOST true` as the raw loop, one
 * `Deno.Command` per host, all at once. What Deno's start and its process spawning cost. With
 * `withDexp`, the same program imports dexp first and uses none of it: what loading dexp's code
 * adds to that.
 */
async function denoFloor(dir: string, withDexp: boolean): Promise<string> {
  const file = `${dir}/deno_floor${withDexp ? "_dexp" : ""}.ts`;
  const mod = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    file,
    `${withDexp ? `import ${JSON.stringify(mod)};\n` : ""}const [cfg, ...names] = Deno.args;
const runs = names.map((h) =>
  new Deno.Command("ssh", { args: ["-F", cfg, h, "true"], stdin: "null", stdout: "piped", stderr: "piped" })
    .output()
);
for (const r of await Promise.all(runs)) if (r.code !== 0) Deno.exit(1);
`,
  );
  await fillCache(file);
  return file;
}

const tb = await startTestbed({ hosts: Math.max(...sizes), kexAlgorithms: null });
const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "dexp-bench-" });
await Deno.chmod(dir, 0o700);
const persistDir = `${dir}/persist`;
await Deno.mkdir(persistDir, { mode: 0o700 });
const configs = { false: await config(tb, dir, false), true: await config(tb, dir, true) };
const floor = await denoFloor(dir, false);
const floorDexp = await denoFloor(dir, true);
const rows: string[] = [];
const notes = new Set<string>();
try {
  for (const n of sizes) {
    const fastAll = n >= fastFrom;
    const cfg = configs[`${fastAll}`];
    const reps = n >= LARGE ? largeRuns : runs;
    const names = tb.hosts.slice(0, n).map((h) => h.name);
    const cells: Record<string, () => Promise<number>> = {
      "raw ssh loop": () =>
        timed([
          "bash",
          "-c",
          `for h in ${names.join(" ")}; do ssh -F ${cfg} "$h" true & done; wait`,
        ]),
      "Deno floor (no dexp)": () =>
        timed([Deno.execPath(), "run", "-A", "--no-check", floor, cfg, ...names]),
      "floor + dexp imported": () =>
        timed([Deno.execPath(), "run", "-A", "--no-check", DENO_CONFIG, floorDexp, cfg, ...names]),
    };
    if (has("pdsh")) {
      cells.pdsh = () =>
        timed(
          ["pdsh", "-R", "ssh", "-f", String(Math.min(n, 1024)), "-w", names.join(","), "true"],
          {
            PDSH_SSH_ARGS: `-F ${cfg} %h`,
          },
        );
    }
    if (has("parallel-ssh")) {
      cells.pssh = () =>
        timed([
          "parallel-ssh",
          "-p",
          String(n),
          "-x",
          `-F ${cfg}`,
          ...names.flatMap((h) => ["-H", h]),
          "true",
        ]);
    }
    if (has("clush")) {
      cells.clush = () =>
        timed(["clush", "-f", String(n), "-o", `-F ${cfg}`, "-w", names.join(","), "true"]);
    }
    const dexpDefault = await dexpProgram(tb, dir, n, {}, fastAll);
    cells["dexp"] = () => timed(dexpDefault);
    const dexpFast = await dexpProgram(tb, dir, n, { kex: "fast" }, fastAll);
    cells["dexp, fast kex"] = () => timed(dexpFast);
    const dexpPersist = await dexpProgram(tb, dir, n, { persist: "10m" }, fastAll);
    const env = { DEXP_PERSIST_DIR: persistDir };
    cells["dexp, 2nd program (persisted)"] = async () => {
      return await timed(dexpPersist, env);
    };
    // The first persisted program (not timed) leaves the connections for the timed ones.
    await timed(dexpPersist, env);
    const results: string[] = [];
    let rss = 0;
    // Rounds: every tool once per round, in the same order, so that a slow spell of the
    // machine hits all of them; the ratios below are taken within a round.
    const times: Record<string, number[]> = {};
    for (let i = 0; i < reps; i++) {
      for (const [name, fn] of Object.entries(cells)) {
        (times[name] ??= []).push(await fn());
        if (name === "dexp") rss = Math.max(rss, lastRss);
      }
    }
    for (const name of Object.keys(cells)) {
      const m = median(times[name]);
      results.push(`${Math.round(m).toLocaleString("en")}`);
      console.error(`N=${n} ${name}: median ${Math.round(m)} ms of ${times[name].map(Math.round)}`);
    }
    const ratio = (a: string, b: string) =>
      median(times[a].map((t, i) => t / times[b][i])).toFixed(3);
    console.error(
      `N=${n} per-round ratios: dexp/raw ${ratio("dexp", "raw ssh loop")}, ` +
        `floor/raw ${ratio("Deno floor (no dexp)", "raw ssh loop")}, ` +
        `floor+import/raw ${ratio("floor + dexp imported", "raw ssh loop")}, ` +
        `pdsh/raw ${times.pdsh ? ratio("pdsh", "raw ssh loop") : "-"}, ` +
        `dexp/floor ${ratio("dexp", "Deno floor (no dexp)")}`,
    );
    const mark = [fastAll && n >= fastFrom && fastFrom > 1 ? "*" : "", reps !== runs ? "+" : ""]
      .join("");
    if (fastAll && fastFrom > 1) notes.add(`* every tool with curve25519 first`);
    if (reps !== runs) notes.add(`+ median of ${reps}`);
    rows.push(`| ${n}${mark} | ${results.join(" | ")} | ${Math.round(rss / 1024)} MB |`);
    if (rows.length === 1) {
      console.log(`| N | ${Object.keys(cells).join(" | ")} | dexp peak RSS |`);
      console.log(`|---|${Object.keys(cells).map(() => "---").join("|")}|---|`);
    }
    console.log(rows.at(-1));
  }
  console.log(
    `\nms, whole process, median of ${runs}${notes.size ? `; ${[...notes].join("; ")}` : ""}; ` +
      `key exchange: ${
        fastFrom === 1
          ? "curve25519 first for every tool"
          : "OpenSSH default (sntrup761x25519) unless marked; dexp, fast kex: curve25519"
      }; command: deno run -A bench/fanout.ts ${Deno.args.join(" ")}`.trimEnd(),
  );
} finally {
  await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../src/cli/main.ts", import.meta.url).pathname,
      "connections",
      "close",
      "--all",
    ],
    env: { DEXP_PERSIST_DIR: persistDir },
    stdout: "null",
  }).output();
  await Deno.remove(dir, { recursive: true });
  await tb.close();
}
