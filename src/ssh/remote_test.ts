import { assertEquals, assertMatch } from "../../tests/assert.ts";
import { parseHostString } from "./host.ts";
import { BOOTSTRAP, killScript, MarkerFilter, remoteScript } from "./remote.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function throws(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

/** Runs `stream` through a filter in chunks of `size` bytes. */
function filter(stream: string, size: number): { out: string; pid: number | null; end: number[] } {
  let pid: number | null = -1;
  const end: number[] = [];
  const f = new MarkerFilter("M:", "E:", (p) => pid = p, (s) => end.push(s));
  const bytes = enc.encode(stream);
  let out = "";
  for (let i = 0; i < bytes.length; i += size) {
    out += dec.decode(f.push(bytes.subarray(i, i + size)), { stream: true });
  }
  out += dec.decode(f.flush());
  return { out, pid, end };
}

Deno.test("the marker and the end line leave stderr exactly as the command wrote it", () => {
  const cases: [string, string, number[]][] = [
    ["M:42\nerr\nE:0\n", "err\n", [0]],
    ["M:42\nabcE:3\n", "abc", [3]],
    ["M:42\nE:255\nlate\n", "late\n", [255]],
    ["M:42\nE: not it\n", "E: not it\n", []],
    ["M:42\nno end\n", "no end\n", []],
    ["before\nM:42\nafter\nE:1\n", "before\nafter\n", [1]],
  ];
  for (const [stream, want, end] of cases) {
    for (const size of [1, 2, 3, 5, 1000]) {
      const r = filter(stream, size);
      assertEquals([r.out, r.pid, r.end], [want, 42, end], `${JSON.stringify(stream)} by ${size}`);
    }
  }
  assertEquals(filter("no marker\n", 3).pid, null);
  // A complete line is never held back (a stderr handler sees it at once).
  const f = new MarkerFilter("M:", "E:", () => {}, () => {});
  f.push(enc.encode("M:1\n"));
  assertEquals(dec.decode(f.push(enc.encode("ready\n"))), "ready\n");
  assertEquals(dec.decode(f.push(enc.encode("part"))), "part");
});

Deno.test("the remote script is one line, holds no raw newline, and names bad input", () => {
  const script = remoteScript(
    { command: "echo 'a\nb'", env: { K: "v\nw'x" }, cwd: "/t m\np" },
    "M:",
    "E:",
  );
  assertEquals(script.indexOf("\n"), script.length - 1);
  assertEquals(BOOTSTRAP.length < 80, true);
  assertMatch(
    throws(() => remoteScript({ command: "x", env: { "A B": "1" } }, "M:")),
    /Environment variable name "A B" is not valid/,
  );
  assertMatch(
    throws(() => remoteScript({ command: "x\0", env: {} }, "M:")),
    /contains a NUL byte/,
  );
  assertMatch(killScript(123, "SIGTERM"), /kill -s TERM -- -123/);
  assertMatch(killScript(123, "SIGKILL"), /pkill -KILL -s 123/);
});

Deno.test("host strings that ssh would take as options are refused", () => {
  for (const bad of ["-V", "-oProxyCommand=x", "bob@-x", "-u@h", "h;id", "h'x", "a$(id)"]) {
    assertMatch(throws(() => parseHostString(bad)), /^Host ".*" is not valid: /, bad);
  }
  assertEquals(parseHostString("bob-1@n-2.lab:22"), {
    user: "bob-1",
    address: "n-2.lab",
    port: 22,
  });
});
