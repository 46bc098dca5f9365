import { join } from "node:path";
import { assertEquals, assertMatch } from "../../tests/assert.ts";
import { LogFile, logOutput } from "./log.ts";

const enc = new TextEncoder();
const STAMP = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

Deno.test("logOutput writes raw chunks, a header when the source changes, partial lines held", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dexp-log-" });
  try {
    const path = join(dir, "log.txt");
    const samples: string[] = [];
    {
      using log = new LogFile(path);
      const a = logOutput(
        log,
        { target: "h1", stream: "stdout", index: 0 },
        (l) => samples.push(l),
      );
      const b = logOutput(log, { target: "h2", stream: "stderr", index: 1 });
      a.write(enc.encode("a1\na2 par"));
      b.write(enc.encode("b1\r\nb2"));
      a.write(enc.encode("tial\n"));
      log.write("an event");
      b.write(enc.encode(" end\n"));
      // A partial line over 64 KiB is written without waiting for its end.
      a.write(new Uint8Array(70 * 1024).fill(120));
      // Another source then starts on a line of its own (a line end is added).
      b.write(enc.encode("late\n"));
      b.close();
      a.write(enc.encode("y\n"));
      a.close();
    }
    const text = await Deno.readTextFile(path);
    assertMatch(
      text,
      new RegExp(
        `^${STAMP} \\[h1\\] stdout:\\na1\\n${STAMP} \\[h2\\] stderr:\\nb1\\r\\n${STAMP} \\[h1\\] stdout:\\n` +
          `a2 partial\\nan event\\n${STAMP} \\[h2\\] stderr:\\nb2 end\\n` +
          `${STAMP} \\[h1\\] stdout:\\nx{${70 * 1024}}\\n${STAMP} \\[h2\\] stderr:\\nlate\\n` +
          `${STAMP} \\[h1\\] stdout:\\ny\\n$`,
      ),
    );
    // One sample per chunk that ends a line: its last complete line.
    assertEquals(samples, ["a1", "a2 partial", "y"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logOutput samples a long line by its last bytes and searches only a chunk's end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dexp-log-" });
  try {
    const path = join(dir, "log.txt");
    const samples: string[] = [];
    {
      using log = new LogFile(path);
      const a = logOutput(log, { target: "h", stream: "stdout", index: 0 }, (l) => samples.push(l));
      // The only line end is 20 KiB before the end of the chunk: beyond the searched part.
      a.write(enc.encode("first\n" + "p".repeat(20 * 1024)));
      a.write(enc.encode("q".repeat(20 * 1024) + "\nlast\n"));
      a.write(enc.encode("r".repeat(20 * 1024) + "\n"));
      a.close();
    }
    // No sample for a chunk without a line end; a line too long to find its start shows its end.
    assertEquals(samples, ["last", "r".repeat(256)]);
    const text = await Deno.readTextFile(path);
    assertMatch(
      text,
      new RegExp(`^${STAMP} \\[h\\] stdout:\\nfirst\\np{20480}q{20480}\\nlast\\nr{20480}\\n$`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
