import { assert, assertEquals } from "../../tests/assert.ts";
import { makeControlDir, removeStale } from "./control_dir.ts";

Deno.test({
  name: "control folders of dead programs are removed once their masters are gone; others stay",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const base = await Deno.makeTempDir({ prefix: "dexp-test-cdir-" });
    try {
      // A pid above pid_max is never a running program's.
      const dead = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim()) + 1;
      const old = new Date(Date.now() - 120_000);
      const folder = (name: string, files: string[], mtime = old) => {
        const path = `${base}/${name}`;
        Deno.mkdirSync(path, { mode: 0o700 });
        for (const f of files) Deno.writeTextFileSync(`${path}/${f}`, "");
        Deno.utimeSync(path, mtime, mtime);
        return path;
      };
      const stale = folder(`dexp-${dead}-aaaaaa`, ["0.log", "1.log"]);
      const withSocket = folder(`dexp-${dead}-bbbbbb`, ["0.log"]);
      // A master still up (its program was killed): its socket is there.
      using _listener = Deno.listen({ transport: "unix", path: `${withSocket}/0` });
      Deno.utimeSync(withSocket, old, old);
      const recent = folder(`dexp-${dead}-cccccc`, ["0.log"], new Date());
      const own = folder(`dexp-${Deno.pid}-dddddd`, ["0.log"]);
      const living = folder(`dexp-1-eeeeee`, ["0.log"]);
      const unnamed = folder(`dexp-ffffff`, ["0.log"]);

      assertEquals(removeStale(base), [stale]);
      for (const kept of [withSocket, recent, own, living, unnamed]) {
        assert(Deno.statSync(kept).isDirectory, `${kept} was kept`);
      }

      // A new control folder is this program's, private, and sweeps the stale ones.
      const again = folder(`dexp-${dead}-gggggg`, ["0.log"]);
      const made = makeControlDir([base]);
      assert(made.startsWith(`${base}/dexp-${Deno.pid}-`), made);
      assertEquals(Deno.statSync(made).mode! & 0o777, 0o700);
      let gone = false;
      try {
        Deno.statSync(again);
      } catch (e) {
        gone = e instanceof Deno.errors.NotFound;
      }
      assert(gone, `${again} was removed`);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});
