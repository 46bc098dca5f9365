/**
 * `put` of one file to N hosts against parallel scp, whole-process times, in the same run on
 * the same testbed (loopback sshd, OpenSSH's default key exchange and cipher): a bash loop of
 * `scp FILE hI:DIR &`, then a dexp program doing `hosts.put(FILE, DIR)`. Every host gets its
 * own folder (they are one machine); the copies are removed between runs. Median of R runs.
 *
 *   deno run -A bench/put.ts [--mb=100] [--hosts=32] [--reps=3]
 *
 * Needs root (it starts sshd; see tests/harness/sshd.ts). Prints a markdown table.
 */
import { startTestbed, USERS } from "../tests/harness/sshd.ts";

function flag(name: string, fallback: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(v) || v <= 0) {
    throw new TypeError(`'--${name}' must be a positive integer: received '${a}'`);
  }
  return v;
}

const mb = flag("mb", 100);
const n = flag("hosts", 32);
const reps = flag("reps", 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(argv: string[]): Promise<number> {
  const t = performance.now();
  const r = await new Deno.Command(argv[0], {
    args: argv.slice(1),
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

const tb = await startTestbed({ hosts: n, kexAlgorithms: null });
const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "dexp-putbench-" });
await Deno.chmod(dir, 0o755);
try {
  // Incompressible data: what a build or a data set looks like to the cipher.
  const file = `${dir}/payload.bin`;
  {
    const f = await Deno.open(file, { write: true, create: true });
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < mb; i++) {
      for (let o = 0; o < chunk.length; o += 65536) {
        crypto.getRandomValues(chunk.subarray(o, o + 65536));
      }
      await f.write(chunk);
    }
    f.close();
  }
  // One folder per host, owned by the test user (the hosts are all this machine).
  const uid = Number(
    new TextDecoder().decode(
      new Deno.Command("id", { args: ["-u", USERS.dash] }).outputSync().stdout,
    )
      .trim(),
  );
  const dest = (i: number) => `${dir}/to/${i}`;
  const fresh = async () => {
    await Deno.remove(`${dir}/to`, { recursive: true }).catch(() => {});
    for (let i = 0; i < n; i++) {
      await Deno.mkdir(dest(i), { recursive: true });
      await Deno.chown(dest(i), uid, null);
    }
  };
  const cfg = `${dir}/ssh_config`;
  await Deno.writeTextFile(
    cfg,
    (await Deno.readTextFile(tb.sshConfig)) +
      "\n  BatchMode yes\n  ControlMaster no\n  ControlPath none\n",
  );
  const scp = [
    "bash",
    "-c",
    `${
      tb.hosts.map((h, i) => `scp -q -F ${cfg} ${file} ${h.name}:${dest(i)}/ &`).join("\n")
    }\nwait`,
  ];
  const spec = tb.hosts.map(({ name, address, port }) => ({ name, address, port }));
  const params = {
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  };
  const program = `${dir}/put.ts`;
  await Deno.writeTextFile(
    program,
    `import { hosts } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
await using n = hosts(${JSON.stringify(spec)}).with(${JSON.stringify(params)});
await n.put(${JSON.stringify(file)}, ${JSON.stringify(`${dir}/to/{i}`)}).quiet();
`,
  );
  const config = new URL("../deno.json", import.meta.url).pathname;
  await new Deno.Command(Deno.execPath(), {
    args: ["cache", `--config=${config}`, program],
    stdout: "null",
    stderr: "null",
  }).output();
  const dexp = [Deno.execPath(), "run", "-A", "--no-check", `--config=${config}`, program];
  const cells: [string, string[]][] = [["parallel scp", scp], ["dexp put", dexp]];
  const out: string[] = [];
  for (const [name, argv] of cells) {
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      await fresh();
      times.push(await timed(argv));
      const st = await Deno.stat(`${dest(n - 1)}/payload.bin`);
      if (st.size !== mb << 20) throw new Error(`${name}: the copy has ${st.size} bytes`);
    }
    console.error(`${name}: median ${Math.round(median(times))} ms of ${times.map(Math.round)}`);
    out.push(Math.round(median(times)).toLocaleString("en"));
  }
  console.log(`| ${mb} MB to N hosts | ${cells.map(([c]) => c).join(" | ")} |`);
  console.log(`|---|${cells.map(() => "---").join("|")}|`);
  console.log(`| ${n} | ${out.join(" | ")} |`);
  console.log(
    `\nms, whole process, median of ${reps}; default key exchange and cipher; command: ` +
      `deno run -A bench/put.ts ${Deno.args.join(" ")}`.trimEnd(),
  );
} finally {
  await Deno.remove(dir, { recursive: true });
  await tb.close();
}
