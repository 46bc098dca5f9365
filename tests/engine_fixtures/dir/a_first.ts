import { experiment } from "../../../src/engine/mod.ts";
experiment("dir-a", { tags: ["t1"] }, () => {});
experiment("dir-a2", {}, () => {});
