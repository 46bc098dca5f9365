// put() and get() against real sshd hosts (tests/harness/sshd.ts): exactly the named paths
// (no remote globbing, any byte in a name), no two copies into one place, local names with a
// colon, and one layout for scp and rsync ("dir" and "dir/" both copy the folder itself).
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { type Hosts, hosts, type HostSpec } from "../mod.ts";

const TOOLS = [{ tool: "scp", options: {} }, { tool: "rsync", options: { rsync: true } }] as const;

function group(tb: Testbed, specs: Omit<HostSpec, "address" | "port">[]): Hosts {
  const { address, port } = tb.hosts[0];
  return hosts(specs.map((s) => ({ address, port, ...s }))).with({
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

/**
 * A temporary folder that the test users can read and write (the test hosts are this
 * machine, so "remote" paths are paths here too).
 */
async function sharedDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "dexp-xfer-" });
  await Deno.chmod(path, 0o777);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Every path under `root`, relative, folders with a final `/`, files as `name=content`. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for await (const e of Deno.readDir(dir)) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) {
        out.push(`${r}/`);
        await walk(join(dir, e.name), r);
      } else {
        out.push(`${r}=${await Deno.readTextFile(join(dir, e.name))}`);
      }
    }
  }
  try {
    await walk(root, "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return ["(missing)"];
    throw e;
  }
  return out.sort();
}

/** Writes files (`a/b.txt`) and folders (`a/`) under `root`, world-readable and writable. */
async function make(root: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const full = join(root, p);
    if (p.endsWith("/")) {
      await Deno.mkdir(full, { recursive: true });
      await Deno.chmod(full, 0o777);
    } else {
      await Deno.writeTextFile(full, p.split("/").at(-1)!);
      await Deno.chmod(full, 0o666);
    }
  }
}

/** Gives a tree to a test user, as if that user had made it. */
async function chownToUser(path: string, user: string): Promise<void> {
  const out = await new Deno.Command("chown", { args: ["-R", `${user}:`, "--", path] }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
}

const HOSTILE = [
  "a*b",
  "q?x",
  "br[ab]",
  "un[closed",
  "sp ace",
  `qu'o"te`,
  "back\\slash",
  "esc\\*aped",
  "new\nline",
  "-lead",
  "--",
  "co:lon",
  "~tilde",
  "$HOME",
  "semi;colon",
  "{brace,s}",
];
// What a glob would match besides the literal names above.
const DECOYS = ["aXb", "qax", "bra", "unXclosed", "back\\Xslash", "escXaped", "brace", "s"];

sshTest("get() copies exactly the named remote paths, whatever bytes they hold", async (t) => {
  await using tb = await startTestbed({ hosts: 1 });
  await using dir = await sharedDir();
  const remote = join(dir.path, "remote");
  await make(remote, [
    "./",
    ...HOSTILE,
    ...DECOYS,
    "d i*r/",
    "d i*r/in side",
    "dXir/",
    "dXir/decoy",
  ]);
  for (const user of [USERS.dash, USERS.bash]) {
    await using n = group(tb, [{ user, name: "h1" }]);
    for (const { tool, options } of TOOLS) {
      await t.step(`${tool} as ${user}`, async () => {
        const local = join(dir.path, `${tool}-${user}`);
        // rsync cannot fetch a name with a backslash and a wildcard literally: refused.
        const names = HOSTILE.filter((p) => tool === "scp" || p !== "esc\\*aped");
        const r = await n.get([...names, "d i*r/"].map((p) => `${remote}/${p}`), local, options)
          .noThrow();
        assertEquals(r.get(0).ok, true, r.get(0).reason + r.get(0).stderr);
        assertEquals(
          await tree(local),
          [...names.map((p) => `${p}=${p}`), "d i*r/", "d i*r/in side=in side"].sort(),
        );
        if (tool === "rsync") {
          const refused = await n.get(`${remote}/esc\\*aped`, local, options).noThrow();
          assertEquals(refused.get(0).failure, "spawn");
          assertMatch(refused.get(0).reason!, /rsync cannot copy remote path '.*esc\\\*aped'/);
        }
      });
    }
  }
});

sshTest(
  "put() copies local names with any bytes, a colon included, and remote folders with any name",
  async (t) => {
    await using tb = await startTestbed({ hosts: 1 });
    await using dir = await sharedDir();
    const local = join(dir.path, "local");
    await make(local, ["./", ...HOSTILE, "co:lon dir/", "co:lon dir/f"]);
    await using n = group(tb, [{ user: USERS.dash, name: "h1" }]);
    for (const { tool, options } of TOOLS) {
      await t.step(tool, async () => {
        const remote = join(dir.path, `${tool} re*mote [x] \\ 'q'`);
        const r = await n.put(
          [...HOSTILE, "co:lon dir"].map((p) => `${local}/${p}`),
          remote,
          options,
        )
          .noThrow();
        assertEquals(r.get(0).ok, true, r.get(0).reason + r.get(0).stderr);
        assertEquals(
          await tree(remote),
          [...HOSTILE.map((p) => `${p}=${p}`), "co:lon dir/", "co:lon dir/f=f"].sort(),
        );
      });
    }
    // Relative local paths with a colon, and a local destination with a colon.
    await t.step("relative paths", async () => {
      const cwd = Deno.cwd();
      Deno.chdir(local);
      try {
        for (const { tool, options } of TOOLS) {
          const remote = join(dir.path, `rel-${tool}`);
          const put = await n.put(["co:lon", "co:lon dir"], remote, options).noThrow();
          assertEquals(put.get(0).ok, true, put.get(0).reason + put.get(0).stderr);
          assertEquals(await tree(remote), ["co:lon dir/", "co:lon dir/f=f", "co:lon=co:lon"]);
          const get = await n.get(`${remote}/co:lon`, `got:${tool}/{host}`, options).noThrow();
          assertEquals(get.get(0).ok, true, get.get(0).reason + get.get(0).stderr);
          assertEquals(await tree(join(local, `got:${tool}`)), ["h1/", "h1/co:lon=co:lon"]);
        }
      } finally {
        Deno.chdir(cwd);
      }
    });
  },
);

sshTest(
  "scp and rsync give one layout: dir and dir/ copy the folder itself, into new and existing destinations",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using dir = await sharedDir();
    const src = join(dir.path, "src");
    await make(src, ["data/", "data/sub/", "data/sub/x", "data/y", "file.txt"]);
    await using n = group(tb, [{ user: USERS.dash, name: "h1" }]);
    const layouts: Record<string, string[]> = {};
    for (const { tool, options } of TOOLS) {
      for (const source of ["file.txt", "data", "data/", "data//"]) {
        for (const existing of [false, true]) {
          const key = `${tool} ${source} ${existing ? "existing" : "new"}`;
          const up = join(dir.path, "up", key);
          const down = join(dir.path, "down", key);
          if (existing) {
            // The remote user owns what it finds there (rsync sets the folders' times).
            await make(up, ["./", "data/", "data/old"]);
            await chownToUser(up, USERS.dash);
            await make(down, ["./", "data/", "data/old"]);
          }
          const put = await n.put(`${src}/${source}`, up, options).noThrow();
          assertEquals(put.get(0).ok, true, `${key}: ${put.get(0).reason}${put.get(0).stderr}`);
          // And back: the remote copy named the same way.
          const get = await n.get(`${up}/${source}`, down, options).noThrow();
          assertEquals(get.get(0).ok, true, `${key}: ${get.get(0).reason}${get.get(0).stderr}`);
          layouts[`put ${key}`] = await tree(up);
          layouts[`get ${key}`] = await tree(down);
        }
      }
    }
    const file = ["file.txt=file.txt"];
    const folder = ["data/", "data/sub/", "data/sub/x=x", "data/y=y"];
    for (const way of ["put", "get"]) {
      for (const tool of ["scp", "rsync"]) {
        assertEquals(layouts[`${way} ${tool} file.txt new`], file);
        assertEquals(
          layouts[`${way} ${tool} file.txt existing`],
          [...file, "data/", "data/old=old"].sort(),
        );
        for (const source of ["data", "data/", "data//"]) {
          const k = `${way} ${tool} ${source}`;
          assertEquals(layouts[`${k} new`], folder, k);
          assertEquals(layouts[`${k} existing`], [...folder, "data/old=old"].sort(), k);
        }
      }
    }
  },
);

sshTest(
  "get() from hosts with one name into one {host} folder is refused before copying",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using dir = await sharedDir();
    const remote = join(dir.path, "remote");
    await make(remote, ["./", "out.txt"]);
    // Same address and port, different users: the same default name (address:port).
    await using same = group(tb, [{ user: USERS.dash }, { user: USERS.bash }]);
    assertEquals(same.targets[0].name, same.targets[1].name);
    await using named = group(tb, [{ user: USERS.dash, name: "h1" }, {
      user: USERS.bash,
      name: "h1",
    }]);
    for (const n of [same, named]) {
      for (const { options } of TOOLS) {
        let msg = "";
        try {
          await n.get(`${remote}/out.txt`, `${dir.path}/results/{host}/`, options);
        } catch (e) {
          msg = (e as Error).message;
        }
        assertMatch(msg, /into the same folder/);
        assertMatch(msg, new RegExp(`${USERS.dash}@.*${USERS.bash}@`));
        assertMatch(msg, /distinct 'name'|\{i\}/);
        assertEquals(await tree(join(dir.path, "results")), ["(missing)"]);
      }
    }
    // Distinct names, or {i}, keep them apart.
    await using distinct = group(tb, [{ user: USERS.dash, name: "dash" }, {
      user: USERS.bash,
      name: "bash",
    }]);
    const ok = await distinct.get(`${remote}/out.txt`, `${dir.path}/results/{host}/`);
    assertEquals(ok.ok, true);
    const byIndex = await named.get(`${remote}/out.txt`, `${dir.path}/results/{i}/`);
    assertEquals(byIndex.ok, true);
    assertEquals(await tree(join(dir.path, "results")), [
      "0/",
      "0/out.txt=out.txt",
      "1/",
      "1/out.txt=out.txt",
      "bash/",
      "bash/out.txt=out.txt",
      "dash/",
      "dash/out.txt=out.txt",
    ]);
  },
);

sshTest("two sources with one name into one folder are refused", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  await using dir = await sharedDir();
  await make(dir.path, ["a/", "a/x", "b/", "b/x/", "b/x/y"]);
  await using n = group(tb, [{ user: USERS.dash, name: "h1" }]);
  for (const { options } of TOOLS) {
    for (const way of ["get", "put"] as const) {
      let msg = "";
      try {
        await n[way]([`${dir.path}/a/x`, `${dir.path}/b/x/`], `${dir.path}/to`, options);
      } catch (e) {
        msg = (e as Error).message;
      }
      assertMatch(msg, /'x'/);
      assertMatch(msg, /same name/);
      assertEquals(await tree(`${dir.path}/to`), ["(missing)"]);
    }
  }
  // Paths that name no file or folder of their own are refused too.
  for (const p of ["", "/", ".", "..", `${dir.path}/a/..`]) {
    let msg = "";
    try {
      await n.get(p, `${dir.path}/to`);
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg !== "", `get(${JSON.stringify(p)}) was not refused`);
    assertMatch(msg, /names no file or folder/);
  }
});

sshTest(
  "remote paths relative to the login folder, with or without ~/, for scp and rsync",
  async () => {
    await using tb = await startTestbed({ hosts: 1 });
    await using dir = await sharedDir();
    await make(dir.path, ["f.txt"]);
    const home = (await Deno.readTextFile("/etc/passwd")).split("\n")
      .map((l) => l.split(":")).find((f) => f[0] === USERS.dash)![5];
    const tag = `dexp-xfer-${crypto.randomUUID()}`;
    await using n = group(tb, [{ user: USERS.dash, name: "h1" }]);
    try {
      for (const { tool, options } of TOOLS) {
        for (
          const [given, landed] of [[`~/${tag}/${tool}-tilde`, `${tool}-tilde`], [
            `${tag}/${tool}-rel`,
            `${tool}-rel`,
          ]]
        ) {
          const put = await n.put(`${dir.path}/f.txt`, given, options).noThrow();
          assertEquals(put.get(0).ok, true, `${tool} ${given}: ${put.get(0).reason}`);
          assertEquals(await tree(join(home, tag, landed)), ["f.txt=f.txt"]);
          const down = join(dir.path, "down", `${tool}-${landed}`);
          const get = await n.get(`${given}/f.txt`, down, options).noThrow();
          assertEquals(get.get(0).ok, true, `${tool} ${given}: ${get.get(0).reason}`);
          assertEquals(await tree(down), ["f.txt=f.txt"]);
        }
      }
      // Nothing was made under a folder literally named "~".
      assertEquals(await tree(join(home, "~", tag)), ["(missing)"]);
    } finally {
      await Deno.remove(join(home, tag), { recursive: true }).catch(() => {});
      // What a wrong "~" handling would have left: the test's folder, then "~" if empty.
      await Deno.remove(join(home, "~", tag), { recursive: true }).catch(() => {});
      await Deno.remove(join(home, "~")).catch(() => {});
    }
  },
);
