// Writes tests/fixtures/sweep/v1/: a sweep directory in format 1, checked by
// sweep_fixture_test.ts so that directories written today keep opening with later versions.
// Do not regenerate it when the format changes: add a v2 fixture next to it instead.
//
//   deno run -A tests/sweep_make_fixture.ts [DIR]
import { ParamSweeper, sweep } from "../src/sweep/mod.ts";

// Only when run as a script: `deno test tests/sweep_*` imports this file too.
if (import.meta.main) {
  const dir = Deno.args[0] ?? new URL("./fixtures/sweep/v1", import.meta.url).pathname;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  let clock = 1_700_000_000_000;
  const now = () => (clock += 1000);
  const options = { host: "fixture-host", now, compactBytes: 300, leaseMs: 60_000 };

  // A first run with a=9 in the set; later runs dropped it (its record stays).
  const first = await ParamSweeper.open(dir, sweep({ a: [1, 2, 3, 9], b: ["x", "y"] }), options);
  await first.done({ a: 9, b: "x" });
  await first.done((await first.next())!); // a=1 b=x
  const c = (await first.next())!; // a=1 b=y
  await first.skip(c, "out of memory");
  await first.close();

  // A second run on the current set: it claims a=2 b=x and "crashes" (never closes), on a host
  // whose lease expired long ago.
  const second = await ParamSweeper.open(dir, sweep({ a: [1, 2, 3], b: ["x", "y"] }), options);
  await second.done({ a: 3, b: "y" });
  await second.next(); // a=2 b=x, left in progress
  console.log(`compactions: ${second.compactions + first.compactions}`);
  await Deno.remove(`${dir}/lock`);
  Deno.exit(0);
}
