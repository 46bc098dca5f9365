// Fixture for the CLI tests: combinations that record when they start and finish, and can
// block (to be interrupted) or wait for peer processes (to share the work).
import { experiment } from "../../src/engine/mod.ts";

const dir = Deno.env.get("DEXP_T_DIR") ?? ".";
const n = Number(Deno.env.get("DEXP_T_N") ?? 6);
const block = Number(Deno.env.get("DEXP_T_BLOCK") ?? -1);
const peers = Number(Deno.env.get("DEXP_T_PEERS") ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function peerCount(): Promise<number> {
  let k = 0;
  for await (const e of Deno.readDir(dir)) if (e.name.startsWith("peer-")) k++;
  return k;
}

experiment(
  "counted",
  { params: { i: Array.from({ length: n }, (_, i) => i) } },
  async (ctx, p) => {
    if (peers > 0) {
      await Deno.writeTextFile(`${dir}/peer-${Deno.pid}`, "");
      while (await peerCount() < peers) await sleep(20);
    }
    await Deno.writeTextFile(`${dir}/started.txt`, `${p.i}\n`, { append: true });
    if (p.i === block) {
      if (Deno.env.get("DEXP_T_MODE") === "cmd") {
        await ctx.spawn("sleep 60").then(() => {}, () => {});
        if (ctx.signal.aborted) return; // stopped: not finished
      } else {
        while (!ctx.signal.aborted) await sleep(20);
      }
    }
    await Deno.writeTextFile(`${dir}/done.txt`, `${p.i} ${Deno.pid}\n`, { append: true });
  },
);
