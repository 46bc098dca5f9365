import { assert, assertEquals } from "../../tests/assert.ts";
import { readJsonMaybe, writeFileAtomic, writeJsonAtomic } from "./atomic.ts";

Deno.test("writeFileAtomic replaces the file: readers see the old or the new content, never a part", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dexp-atomic-" });
  try {
    const path = `${dir}/r.txt`;
    const a = "a".repeat(2 << 20);
    const b = "b".repeat(2 << 20);
    await writeFileAtomic(path, a);
    let stop = false;
    const seen: string[] = [];
    const reader = (async () => {
      while (!stop) {
        const t = await Deno.readTextFile(path);
        if (t !== a && t !== b) seen.push(`a part (${t.length} bytes)`);
      }
    })();
    for (let k = 1; k <= 8; k++) await writeFileAtomic(path, k % 2 ? b : a);
    stop = true;
    await reader;
    assertEquals(seen, []);
    // Deterministic too: the content is a new file renamed over the old one, not the old one
    // rewritten. A hard link keeps the old file alive, so its inode cannot be reused (ext4
    // reuses freed inode numbers at once) and the comparison is with a file that still exists.
    await Deno.link(path, `${dir}/old`);
    await writeFileAtomic(path, b);
    const [now, old] = [await Deno.stat(path), await Deno.stat(`${dir}/old`)];
    assert(now.ino !== old.ino, `the inode did not change: ${now.ino}`);
    assertEquals(await Deno.readTextFile(`${dir}/old`), a); // the old file was not rewritten
    await Deno.remove(`${dir}/old`);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["r.txt"]); // no temporary file left behind
    await writeJsonAtomic(`${dir}/sub/v.json`, { ok: [1] }); // the folder is created
    assertEquals(await readJsonMaybe(`${dir}/sub/v.json`), { ok: [1] });
    assert((await readJsonMaybe(`${dir}/missing.json`)) === undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
