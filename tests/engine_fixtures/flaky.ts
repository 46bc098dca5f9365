// Fixture: one combination fails once then succeeds on restart, one always fails.
import { experiment } from "../../src/engine/mod.ts";
experiment(
  "flaky",
  { params: { k: ["good", "once", "never"] }, maxRestarts: 1 },
  async (ctx, p) => {
    if (p.k === "once" && ctx.attempt === 1) throw new Error("first attempt fails");
    if (p.k === "never") await ctx.spawn("exit 3");
    await ctx.addRows([{ k2: `${p.k}-row`, value: ctx.attempt }]);
  },
);
