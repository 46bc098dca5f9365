// The examples run as the README says: `dexp run examples/grid.ts examples/yes_kill.ts`.
import { join, resolve } from "node:path";
import { assertEquals, assertStringIncludes } from "./assert.ts";

const ROOT = resolve(import.meta.dirname!, "..");

Deno.test("examples/grid.ts and examples/yes_kill.ts run from the CLI, in argument order", async () => {
  const results = await Deno.makeTempDir({ prefix: "dexp-examples-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "src/cli/main.ts",
        "run",
        "--no-progress",
        "-r",
        results,
        "examples/grid.ts",
        "examples/yes_kill.ts",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    // grid runs first (argument order), then yes_kill.
    const g = stdout.indexOf("experiment grid: 8 ok");
    const y = stdout.indexOf("experiment yes_kill: 1 combinations");
    assertEquals(g >= 0 && y > g, true, stdout);
    const [gridRun] = [...Deno.readDirSync(join(results, "grid"))].filter((e) => e.isDirectory);
    // Command output is stored once, in the combination's log (the console shows events).
    assertStringIncludes(
      await Deno.readTextFile(
        join(results, "grid", gridRun.name, "a=2_b=4_to_file=false", "log.txt"),
      ),
      " [local] stdout:\na=2 b=4 product=8\n",
    );
    assertEquals(
      await Deno.readTextFile(
        join(results, "grid", gridRun.name, "a=2_b=3_to_file=true", "out.txt"),
      ),
      "a=2 b=3 product=6\n",
    );
    const [yesRun] = [...Deno.readDirSync(join(results, "yes_kill"))].filter((e) => e.isDirectory);
    const killed = JSON.parse(
      await Deno.readTextFile(join(results, "yes_kill", yesRun.name, "seconds=3", "killed.json")),
    );
    assertEquals(killed, ["local[0]", "local[2]"]);
  } finally {
    await Deno.remove(results, { recursive: true });
  }
});
