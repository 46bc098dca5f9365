import { GroupError, GroupResult } from "../action/mod.ts";
import { ExitError, type FailureKind, ProcessResult } from "../process/mod.ts";
import { assertEquals } from "../../tests/assert.ts";
import { errorDetail, failureLines } from "./failures.ts";

function result(
  target: string,
  failure: FailureKind | null,
  more: { exitCode?: number | null; signal?: Deno.Signal; stderr?: string; reason?: string } = {},
): ProcessResult {
  const stderr = more.stderr ?? "";
  return new ProcessResult({
    target,
    command: "work",
    exitCode: more.exitCode ?? (failure === null ? 0 : null),
    signal: more.signal ?? null,
    stdout: "",
    stderr,
    stdoutBytes: 0,
    stderrBytes: stderr.length,
    start: new Date(0),
    end: new Date(5),
    timedOut: failure === "timeout",
    killed: failure === "killed",
    failure,
    reason: more.reason ?? null,
  });
}

Deno.test("a group error keeps every failed host, and its summary names each one", () => {
  const stderr = Array.from({ length: 12 }, (_, i) => `line ${i}`).join("\n") + "\n";
  const err = new GroupError(
    new GroupResult([
      result("n1", null),
      result("n2", "exit", { exitCode: 3, stderr }),
      result("n3", "connect", { exitCode: 255, reason: "Connection refused" }),
      result("n4", "signal", { signal: "SIGSEGV" }),
      result("n5", "killed"),
    ]),
  );
  const d = errorDetail(err);
  assertEquals(
    d.error,
    "3 of 5 commands failed: n2 exited with code 3: line 11; n3 could not connect: Connection refused; n4 was ended by SIGSEGV",
  );
  assertEquals(d.failures!.map((f) => [f.host, f.kind, f.exitCode, f.signal]), [
    ["n2", "exit", 3, null],
    ["n3", "connect", 255, null],
    ["n4", "signal", null, "SIGSEGV"],
  ]);
  assertEquals(d.failures![0].stderrTail, stderr.trim().split("\n").slice(2));
  const lines = failureLines(d.failures!);
  assertEquals(lines[0], "  n2: exit, exit code 3; command: work");
  assertEquals(lines[1], "    stderr (last 10 lines):");
  assertEquals(
    lines[12],
    "  n3: connect, exit code 255, reason: Connection refused; command: work",
  );
  assertEquals(lines[13], "  n4: signal, signal SIGSEGV; command: work");
});

Deno.test("a process error is one failure; another error keeps its first line", () => {
  const d = errorDetail(new ExitError(result("local", "exit", { exitCode: 1 })));
  assertEquals(d.error, "1 of 1 commands failed: local exited with code 1");
  assertEquals(d.failures!.length, 1);
  assertEquals(errorDetail(new Error("first\nsecond")), { error: "first" });
  assertEquals(errorDetail("plain"), { error: "plain" });
});
