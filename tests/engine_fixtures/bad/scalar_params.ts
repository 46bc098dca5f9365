// Fixture: a parameter that is not a list.
import { experiment } from "../../../src/engine/mod.ts";
experiment("scalar", { params: { a: 5 } as never }, () => {});
