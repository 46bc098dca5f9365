import { experiment } from "../../../../src/engine/mod.ts";
experiment("dir-b", { params: { x: [1, 2] }, tags: ["t2"] }, () => {});
