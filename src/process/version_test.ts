import { assertEquals } from "../../tests/assert.ts";
import { DEXP_VERSION } from "./version.ts";

Deno.test("DEXP_VERSION is deno.json's version", async () => {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  ) as { version: string };
  assertEquals(DEXP_VERSION, denoJson.version);
});
