import { assertEquals, assertMatch, assertRejects } from "../../tests/assert.ts";
import { Host, parseHostString } from "./host.ts";
import { parseHostList } from "./host_file.ts";
import { checkParams, commonOptions } from "./params.ts";

function opt(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === "-o" && args[i + 1].startsWith(name + "=")) {
      return args[i + 1].slice(name.length + 1);
    }
  }
  return undefined;
}

function throws(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("host strings: user, address, port, IPv6 in brackets", () => {
  assertEquals(parseHostString("n1"), { address: "n1" });
  assertEquals(parseHostString("bob@n2:2222"), { user: "bob", address: "n2", port: 2222 });
  assertEquals(parseHostString("[::1]:2200"), { address: "::1", port: 2200 });
  assertEquals(parseHostString("bob@[fe80::1%eth0]"), { user: "bob", address: "fe80::1%eth0" });
  assertMatch(throws(() => parseHostString("::1")), /IPv6 address must be in brackets/);
  assertMatch(throws(() => parseHostString("a b")), /contains white space/);
  assertMatch(throws(() => parseHostString("n1:99999")), /must be from 1 to 65535/);
  assertMatch(throws(() => new Host({ address: "n1", prot: 22 } as never)), /Unknown key 'prot'/);
});

Deno.test("host objects: names, tags, group parameters that the host's own override", () => {
  const h = new Host({ address: "bob@n1:22", name: "alpha", tags: ["gpu"], keyfile: "k" });
  assertEquals([h.name, h.user, h.port, h.tags], ["alpha", "bob", 22, { gpu: true }]);
  const g = h.withDefaults({ user: "alice", connectTimeout: "3s", keyfile: "other" });
  assertEquals([g.user, g.params.connectTimeout, g.params.keyfile], ["bob", "3s", "k"]);
  assertEquals(new Host("[::1]:2200").toString(), "[::1]:2200");
  assertEquals(new Host("n2:2222").name, "n2:2222");
});

Deno.test("safe defaults: BatchMode, accept-new host keys, a connect timeout; 'no' only on request", () => {
  const args = commonOptions({});
  assertEquals(opt(args, "BatchMode"), "yes");
  assertEquals(opt(args, "StrictHostKeyChecking"), "accept-new");
  assertEquals(opt(args, "ConnectTimeout"), "10");
  assertEquals(opt(commonOptions({ strictHostKeyChecking: "no" }), "StrictHostKeyChecking"), "no");
  const cfg = Deno.makeTempFileSync();
  const all = commonOptions({
    user: "u",
    keyfile: "/k",
    knownHosts: "/kh",
    configFile: cfg,
    proxyJump: "jump",
    connectTimeout: "4s",
    options: { Compression: true, ServerAliveInterval: 5 },
  });
  // The user's file is included by a generated one, ahead of dexp's defaults.
  assertEquals(all[0], "-F");
  assertMatch(Deno.readTextFileSync(all[1]), new RegExp(`^Include "${cfg}"$`, "m"));
  Deno.removeSync(cfg);
  assertEquals(opt(all, "UserKnownHostsFile"), "/kh");
  assertEquals(opt(all, "User"), "u");
  assertEquals(opt(all, "Compression"), "yes");
  assertEquals(all.includes("-J") && all[all.indexOf("-J") + 1], "jump");
  assertEquals(all.includes("-i") && all[all.indexOf("-i") + 1], "/k");
  assertMatch(throws(() => checkParams({ connectTimeout: 0 })), /'connectTimeout' must be/);
  assertMatch(
    throws(() => checkParams({ strictHostKeyChecking: "off" as never })),
    /must be "yes", "accept-new", "no" or "ask"/,
  );
});

Deno.test("host lists: plain lines with tags, YAML with defaults, clear errors", async () => {
  const plain = await parseHostList("# lab\nn1 gpu rack=b3\n\nbob@n2:2222  # spare\n", "hosts.txt");
  assertEquals(plain.hosts, [{ address: "n1", tags: { gpu: true, rack: "b3" } }, "bob@n2:2222"]);
  const yaml = await parseHostList(
    "defaults:\n  user: bob\nhosts:\n  - n1\n  - { address: n2, port: 22 }\n",
    "h.yaml",
  );
  assertEquals(yaml.defaults, { user: "bob" });
  assertEquals(yaml.hosts, ["n1", { address: "n2", port: 22 }]);
  const fails = (text: string, includes: string) =>
    assertRejects(() => parseHostList(text, "h.yaml"), TypeError, includes);
  await fails("hosts: 3\n", "expected a list of hosts");
  await fails("- { port: 2 }\n", "host 1 must be");
  await fails("nodes: []\n", "unknown top-level key 'nodes'");
  await fails("hosts: [a, b\n", "h.yaml is not valid YAML");
});
