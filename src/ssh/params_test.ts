import { assert, assertEquals, assertMatch } from "../../tests/assert.ts";
import { commonOptions } from "./params.ts";

function values(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === "-o" && args[i + 1].startsWith(name + "=")) {
      out.push(args[i + 1].slice(name.length + 1));
    }
  }
  return out;
}

function throws(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("the user's options and parameters come before dexp's defaults (ssh keeps the first)", () => {
  const args = commonOptions({
    options: { ServerAliveInterval: 1, LogLevel: "INFO", BatchMode: false },
    strictHostKeyChecking: "yes",
    connectTimeout: "3s",
  });
  assertEquals(values(args, "ServerAliveInterval")[0], "1");
  assertEquals(values(args, "LogLevel")[0], "INFO");
  assertEquals(values(args, "BatchMode")[0], "no");
  assertEquals(values(args, "StrictHostKeyChecking"), ["yes"]);
  assertEquals(values(args, "ConnectTimeout"), ["3"]);
  // Without anything set, the defaults are there.
  const plain = commonOptions({});
  assertEquals(values(plain, "StrictHostKeyChecking"), ["accept-new"]);
  assertEquals(values(plain, "BatchMode"), ["yes"]);
});

Deno.test("with a configFile, dexp's defaults go after an Include of it, in a private file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const user = `${dir}/my config`;
    Deno.writeTextFileSync(user, "StrictHostKeyChecking yes\n");
    const args = commonOptions({ configFile: user, options: { Compression: true } });
    assertEquals(args[0], "-F");
    assertEquals(values(args, "StrictHostKeyChecking"), []);
    assertEquals(values(args, "BatchMode"), []);
    assertEquals(values(args, "Compression"), ["yes"]);
    const generated = Deno.readTextFileSync(args[1]);
    const include = generated.indexOf(`Include "${user}"`);
    const strict = generated.indexOf("StrictHostKeyChecking accept-new");
    assert(include >= 0 && strict > include, generated);
    assertEquals(Deno.statSync(args[1]).mode! & 0o777, 0o600);
    assertEquals(Deno.statSync(args[1].replace(/\/[^/]*$/, "")).mode! & 0o777, 0o700);
    // The same settings reuse the same file.
    assertEquals(commonOptions({ configFile: user, options: { Compression: true } })[1], args[1]);
    assertMatch(throws(() => commonOptions({ configFile: `${dir}/none` })), /'configFile' cannot/);
    assertMatch(throws(() => commonOptions({ configFile: `${dir}/a*` })), /wildcards/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
