/**
 * Fan-out against the peers, whole-process times, all tools in the same run on the same
 * testbed (loopback sshd with OpenSSH's default key exchange): `true` on N cold hosts with a
 * raw `ssh` loop, pdsh, pssh (parallel-ssh), clush, dexp, dexp with `kex: "fast"`, and a
 * second dexp program that finds the connections the first one persisted. Median of R runs.
 *
 *   deno run -A bench/fanout.ts [SIZES] [RUNS] [--fast-all] [--install]
 *
 *   SIZES       comma-separated host counts (default 8,32,64; up to 1024)
 *   RUNS        runs per cell (default 5)
 *   --fast-all  every tool with curve25519 first (for the large sizes; stated in the output)
 *   --install   apt-get install -y pdsh pssh clustershell first (never in CI)
 *
 * Needs root (it starts sshd; see tests/harness/sshd.ts). A tool that is not installed is
 * reported as "-".
 */
import { startTestbed, type Testbed, USERS } from "../tests/harness/sshd.ts";

const flags = Deno.args.filter((a) => a.startsWith("--"));
const positional = Deno.args.filter((a) => !a.startsWith("--"));
const sizes = (positional[0] ?? "8,32,64").split(",").map(Number);
const runs = Number(positional[1] ?? 5);
const fastAll = flags.includes("--fast-all");
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

/** An ssh_config with the testbed's hosts (h1...hN) and, with --fast-all, the fast kex. */
async function config(tb: Testbed, dir: string): Promise<string> {
  const base = await Deno.readTextFile(tb.sshConfig);
  const path = `${dir}/ssh_config`;
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

async function timed(argv: string[], env: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
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
  const file = `${dir}/dexp_${n}_${Object.keys(extra).join("_") || "default"}.ts`;
  await Deno.writeTextFile(
    file,
    `import { hosts } from ${JSON.stringify(mod)};
await using n = hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
await n.run("true").quiet();
`,
  );
  const config = new URL("../deno.json", import.meta.url).pathname;
  const argv = [Deno.execPath(), "run", "-A", "--no-check", `--config=${config}`, file];
  // Fill the module cache (not timed).
  await new Deno.Command(Deno.execPath(), {
    args: ["cache", `--config=${config}`, file],
    stdout: "null",
    stderr: "null",
  }).output();
  return argv;
}

const tb = await startTestbed({ hosts: Math.max(...sizes), kexAlgorithms: null });
const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "dexp-bench-" });
await Deno.chmod(dir, 0o700);
const persistDir = `${dir}/persist`;
await Deno.mkdir(persistDir, { mode: 0o700 });
const cfg = await config(tb, dir);
const rows: string[] = [];
try {
  for (const n of sizes) {
    const names = tb.hosts.slice(0, n).map((h) => h.name);
    const cells: Record<string, () => Promise<number>> = {
      "raw ssh loop": () =>
        timed([
          "bash",
          "-c",
          `for h in ${names.join(" ")}; do ssh -F ${cfg} "$h" true & done; wait`,
        ]),
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
    const dexpDefault = await dexpProgram(tb, dir, n, {});
    cells["dexp"] = () => timed(dexpDefault);
    const dexpFast = await dexpProgram(tb, dir, n, { kex: "fast" });
    cells["dexp, fast kex"] = () => timed(dexpFast);
    const dexpPersist = await dexpProgram(tb, dir, n, { persist: "10m" });
    const env = { DEXP_PERSIST_DIR: persistDir };
    cells["dexp, 2nd program (persisted)"] = async () => {
      return await timed(dexpPersist, env);
    };
    // The first persisted program (not timed) leaves the connections for the timed ones.
    await timed(dexpPersist, env);
    const results: string[] = [];
    for (const [name, fn] of Object.entries(cells)) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await fn());
      const m = median(times);
      results.push(`${Math.round(m).toLocaleString("en")}`);
      console.error(`N=${n} ${name}: median ${Math.round(m)} ms of ${times.map(Math.round)}`);
    }
    rows.push(`| ${n} | ${results.join(" | ")} |`);
    if (rows.length === 1) {
      console.log(`| N | ${Object.keys(cells).join(" | ")} |`);
      console.log(`|---|${Object.keys(cells).map(() => "---").join("|")}|`);
    }
    console.log(rows.at(-1));
  }
  console.log(
    `\nms, whole process, median of ${runs}; key exchange: ${
      fastAll ? "curve25519 first for every tool" : "OpenSSH default (dexp, fast kex: curve25519)"
    }; command: deno run -A bench/fanout.ts ${Deno.args.join(" ")}`,
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
