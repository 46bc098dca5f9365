import assert from "node:assert/strict";
import { checkJobId, checkJobName, checkRemotePath, newJobId, shellPath } from "./names.ts";

Deno.test("job names and ids refuse path tricks and shell syntax", () => {
  for (const bad of ["", "..", ".hidden", "a/b", "a b", "-rf", "x;y", "$(id)", "a\nb", "é"]) {
    assert.throws(() => checkJobName(bad), TypeError, `name ${JSON.stringify(bad)}`);
    assert.throws(() => checkJobId(bad), TypeError, `id ${JSON.stringify(bad)}`);
  }
  assert.throws(() => checkJobName("a".repeat(65)), /1 to 64/);
  assert.equal(checkJobName("train-1.b_2"), "train-1.b_2");
  const id = newJobId("train", new Date("2026-12-01T10:30:00.123Z"));
  assert.match(id, /^train-20261201T103000-[a-z0-9]{8}$/);
  assert.equal(checkJobId(id), id);
});

Deno.test("job roots are absolute or under home, without . or .. components", () => {
  for (
    const bad of ["", "jobs", "./jobs", "~/../x", "/a/../b", "/a//b", "~/a/./b", "/a\nb", "~x"]
  ) {
    assert.throws(() => checkRemotePath(bad, "'root'"), TypeError, JSON.stringify(bad));
  }
  assert.equal(checkRemotePath("~/.dexp/jobs/", "'root'"), "~/.dexp/jobs");
  assert.equal(checkRemotePath("/var/tmp/j", "'root'"), "/var/tmp/j");
  assert.equal(shellPath("~/my jobs"), `"$HOME"/'my jobs'`);
  assert.equal(shellPath("~"), `"$HOME"`);
  assert.equal(shellPath("/it's"), `'/it'"'"'s'`);
});
