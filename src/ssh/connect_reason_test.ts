import { assertEquals, assertMatch } from "../../tests/assert.ts";
import { connectReason, sshReason } from "./connect_reason.ts";
import { describeFailure, ProcessResult } from "../process/mod.ts";

Deno.test("connectReason: an unresolvable name says to check the address", () => {
  const stderr = "ssh: Could not resolve hostname nosuch.example: Name or service not known\n";
  assertEquals(
    connectReason(stderr, {}, "nosuch.example"),
    "Could not resolve hostname 'nosuch.example': check the host's address (a typo, DNS, /etc/hosts or the ssh config's HostName)",
  );
});

Deno.test("connectReason: an unknown complaint is ssh's last line", () => {
  const stderr = "debug1: x\nkex_exchange_identification: read: Connection reset by peer\n";
  assertEquals(connectReason(stderr, {}, "10.0.0.1"), sshReason(stderr));
  assertEquals(sshReason(""), "ssh exited with code 255 and said nothing");
});

Deno.test("a connect failure's headline is the ssh layer's reason, without an exit code", () => {
  const result = ProcessResult.notStarted({
    target: "h1",
    command: "true",
    failure: "connect",
    reason: "ssh did not finish logging in within 35 s (raise 'connectTimeout' for slow hosts)",
  });
  const withCode = new ProcessResult({ ...result, exitCode: 255, failure: "connect" });
  for (const r of [result, withCode]) {
    assertMatch(
      describeFailure(r),
      /^Could not connect to h1: ssh did not finish logging in within 35 s \(raise 'connectTimeout' for slow hosts\); command: true$/,
    );
  }
});
