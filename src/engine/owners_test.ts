import { assert, assertEquals } from "../../tests/assert.ts";
import { clearOwners, readOwners, recordOwner, takeBackScript } from "./owners.ts";

function spawnWith(token: string, script: string): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", script],
    env: { DEXP_ATTEMPT: token },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

async function runScript(tokens: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("sh", { args: ["-c", takeBackScript(tokens)], stdin: "null" })
    .output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout).trim() };
}

Deno.test("the take-back script ends every process that carries the token, and only those", async () => {
  const tokA = crypto.randomUUID(), tokB = crypto.randomUUID();
  // A shell with two children, all three carrying token A; they print once they run.
  const a = spawnWith(tokA, "sleep 600 & sleep 600 & echo up; wait");
  const b = spawnWith(tokB, "echo up; exec sleep 600");
  try {
    for (const c of [a, b]) {
      const reader = c.stdout.getReader();
      const { value } = await reader.read();
      assertEquals(new TextDecoder().decode(value).trim(), "up");
      reader.releaseLock();
    }
    assertEquals(await runScript([tokA]), { code: 0, out: "dexp-takeback ended=3 left=0" });
    assertEquals((await a.status).signal, "SIGKILL");
    // Nothing of A is left; B was not touched.
    assertEquals(await runScript([tokA]), { code: 0, out: "dexp-takeback ended=0 left=0" });
    let bEnded = false;
    b.status.then(() => bEnded = true);
    await new Promise((r) => setTimeout(r, 0));
    assert(!bEnded);
    assertEquals(await runScript([tokB, "other"]), {
      code: 0,
      out: "dexp-takeback ended=1 left=0",
    });
    assertEquals((await b.status).signal, "SIGKILL");
  } finally {
    for (const c of [a, b]) {
      try {
        c.kill("SIGKILL");
      } catch { /* ended */ }
      await c.status;
      await c.stdout.cancel().catch(() => {});
    }
  }
});

Deno.test("owner records are appended, read back (a torn last line ignored) and cleared", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await readOwners(dir), []);
    const rec = {
      token: "t1",
      attempt: 1,
      targets: ["h1", "h2"],
      host: "m",
      pid: 1,
      start: "2026-01-01T00:00:00.000Z",
    };
    recordOwner(dir, rec);
    recordOwner(dir, { ...rec, token: "t2", attempt: 2 });
    await Deno.writeTextFile(`${dir}/.owners.jsonl`, '{"token":"t3","tar', { append: true });
    assertEquals((await readOwners(dir)).map((r) => [r.token, r.attempt, r.targets]), [
      ["t1", 1, ["h1", "h2"]],
      ["t2", 2, ["h1", "h2"]],
    ]);
    await clearOwners(dir);
    assertEquals(await readOwners(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
