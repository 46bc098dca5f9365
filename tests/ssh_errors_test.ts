// Connect failures say why and what to change: the ssh layer writes the headline (no
// "(ssh exit 255)"), with a hint per reason, each made for real on the sshd testbed.

import { assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { sshTest, startTestbed, type Testbed, USERS } from "./harness/sshd.ts";
import { ConnectError, GroupError, type Hosts, hosts } from "../mod.ts";

function node(tb: Testbed, i = 0): Hosts {
  const h = tb.hosts[i];
  return hosts({ address: h.address, port: h.port, name: h.name }).with({
    user: USERS.dash,
    keyfile: tb.keyfile,
    knownHosts: tb.knownHosts,
    strictHostKeyChecking: "yes",
  });
}

/** A fresh ed25519 key pair in the testbed folder: returns the private key's path. */
async function newKey(tb: Testbed, name: string): Promise<string> {
  const path = `${tb.dir}/${name}`;
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
    stdin: "null",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return path;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

for (const reuse of [true, false]) {
  sshTest(`a changed host key names the known_hosts file and line (reuse ${reuse})`, async () => {
    await using tb = await startTestbed({ hosts: 1 });
    const h = tb.hosts[0];
    const other = await newKey(tb, "not_the_host_key");
    const pub = (await Deno.readTextFile(`${other}.pub`)).split(" ").slice(0, 2).join(" ");
    const known = `${tb.dir}/changed_known_hosts`;
    await Deno.writeTextFile(known, `# an older key of h1\n[${h.address}]:${h.port} ${pub}\n`);
    await using n = node(tb).with({ knownHosts: known, reuse });
    const e = await assertRejects(() => n.at(0).run("true").quiet(), ConnectError);
    assertMatch(
      e.message,
      /^Could not connect to h1: The host key of '\[[\d.]+\]:\d+' has changed/,
    );
    assertMatch(e.message, new RegExp(`line 2 of '${escape(known)}' holds the old key`));
    assertMatch(
      e.message,
      new RegExp(`ssh-keygen -f '${escape(known)}' -R '\\[${escape(h.address)}\\]:${h.port}'`),
    );
    assertEquals(e.message.includes("ssh exit 255"), false, e.message);
  });

  sshTest(`a connection refused names the port and the address (reuse ${reuse})`, async () => {
    await using tb = await startTestbed({ hosts: 2 });
    await tb.stopDaemon(tb.hosts[1].daemon);
    await using n = node(tb, 1).with({ reuse });
    const e = await assertRejects(() => n.at(0).run("true").quiet(), ConnectError);
    const h = tb.hosts[1];
    assertMatch(
      e.message,
      new RegExp(
        `^Could not connect to h2: Connection refused on port ${h.port} of '${
          escape(h.address)
        }': nothing listens there; check 'port' or that sshd runs on the host; command: true`,
      ),
    );
  });
}

sshTest("a refused key names the user and the key file", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const wrong = await newKey(tb, "unauthorized_key");
  await using n = node(tb).with({ keyfile: wrong });
  const e = await assertRejects(() => n.at(0).run("true").quiet(), ConnectError);
  assertMatch(
    e.message,
    new RegExp(
      `^Could not connect to h1: Permission denied \\(publickey\\) for user '${USERS.dash}' with key '${
        escape(wrong)
      }'`,
    ),
  );
  await using nobody = node(tb).with({ user: "nobody-dexp" });
  const r = await nobody.run("true").quiet().noThrow();
  assertMatch(
    r.get(0).reason!,
    /^Permission denied \(publickey\) for user 'nobody-dexp' with key /,
  );
  assertMatch(r.get(0).reason!, /check 'user' and 'keyfile'/);
});

sshTest("an unknown host key names the known_hosts file and StrictHostKeyChecking", async () => {
  await using tb = await startTestbed({ hosts: 1 });
  const empty = `${tb.dir}/empty_known_hosts`;
  await Deno.writeTextFile(empty, "");
  await using n = node(tb).with({ knownHosts: empty });
  const e = await assertRejects(() => n.run("true").quiet(), GroupError);
  const reason = e.result.get(0).reason!;
  assertMatch(
    reason,
    new RegExp(
      `^Host key verification failed: no key for '\\[${escape(tb.hosts[0].address)}\\]:\\d+' in '${
        escape(empty)
      }' and StrictHostKeyChecking is 'yes': add the host's key`,
    ),
  );
  assertMatch(reason, /strictHostKeyChecking: "accept-new"/);
});
