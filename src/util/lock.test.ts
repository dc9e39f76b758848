import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { UserError } from "./errors.ts";
import { isAlive, lockFolder, lockName, readLock } from "./lock.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-lock-"));

/** The id of a process that has ended (a node that exits at once), for a lock whose holder is gone. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(r.stdout);
}

test("the lock names its holder; a second taker is refused with it; release removes it", () => {
  const dir = path.join(tmp(), "run");
  const lock = lockFolder(dir, "distill generate");
  const info = readLock(path.join(dir, lockName));
  assert.equal(info?.pid, process.pid);
  assert.equal(info?.command, "distill generate");
  assert.ok(!Number.isNaN(Date.parse(info?.started ?? "")));
  assert.throws(
    () => lockFolder(dir, "distill filter"),
    (err: unknown) =>
      err instanceof UserError &&
      err.message.includes(
        `${dir}: is in use by distill generate (pid ${process.pid}, since ${info?.started})`,
      ),
  );
  lock.release();
  assert.equal(existsSync(path.join(dir, lockName)), false);
  // the folder was made for this lock and nothing was written: it goes too
  assert.equal(existsSync(dir), false);
});

test("release keeps a folder that holds outputs, and a folder that existed before", () => {
  const dir = tmp();
  lockFolder(dir, "distill mix").release();
  assert.equal(existsSync(dir), true);
  const fresh = path.join(dir, "fresh");
  const lock = lockFolder(fresh, "distill mix");
  writeFileSync(path.join(fresh, "train.jsonl"), "{}\n");
  lock.release();
  assert.equal(readFileSync(path.join(fresh, "train.jsonl"), "utf8"), "{}\n");
  assert.equal(existsSync(path.join(fresh, lockName)), false);
});

test("a lock whose process is gone is taken over", () => {
  const dir = tmp();
  const pid = deadPid();
  assert.equal(isAlive(pid), false);
  writeFileSync(
    path.join(dir, lockName),
    JSON.stringify({ pid, command: "distill generate", started: "2026-01-01T00:00:00.000Z" }),
  );
  const lock = lockFolder(dir, "distill generate");
  assert.equal(readLock(path.join(dir, lockName))?.pid, process.pid);
  lock.release();
});

test("an --out that is a file, or under a file, is one message naming the flag", () => {
  const dir = tmp();
  const file = path.join(dir, "file");
  writeFileSync(file, "x");
  assert.throws(() => lockFolder(file, "distill train"), /file: --out: is a file, not a folder/);
  assert.throws(
    () => lockFolder(path.join(file, "sub"), "distill train"),
    /--out: cannot make the folder \(a parent is a file, not a folder\)/,
  );
  assert.equal(readFileSync(file, "utf8"), "x");
});

test("a folder inside one a live process holds is refused; the holder's own children may use it", async () => {
  const root = tmp();
  // another live process holds root
  const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  try {
    writeFileSync(
      path.join(root, lockName),
      JSON.stringify({ pid: other.pid, command: "distill demo", started: "2026-01-01T00:00:00.000Z" }),
    );
    assert.throws(
      () => lockFolder(path.join(root, "models", "base"), "distill train"),
      new RegExp(`is inside ${root}, which is in use by distill demo \\(pid ${other.pid}`),
    );
  } finally {
    other.kill();
  }
  // this process holds root; a child it starts locks a sub-folder (as the demo's stages would)
  const mine = path.join(tmp(), "demo");
  const lock = lockFolder(mine, "distill demo");
  const child = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import(${JSON.stringify(fileURLToPath(new URL("./lock.ts", import.meta.url)))}).then(({ lockFolder }) => { lockFolder(${JSON.stringify(path.join(mine, "generate"))}, "distill generate").release(); console.log("ok"); })`,
    ],
    { encoding: "utf8" },
  );
  lock.release();
  assert.equal(child.stderr, "");
  assert.equal(child.stdout.trim(), "ok");
});
