import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { checkInFile, checkOutFile, openAtomic, prepareOutDir, writeFileAtomic } from "./outputs.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-outputs-"));
const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.includes(".tmp-"));

test("prepareOutDir makes a missing folder (saying so), keeps one that exists, refuses a file", () => {
  const dir = tmp();
  assert.equal(prepareOutDir(path.join(dir, "a", "b")), true);
  assert.equal(prepareOutDir(path.join(dir, "a", "b")), false);
  writeFileSync(path.join(dir, "f"), "keep");
  assert.throws(() => prepareOutDir(path.join(dir, "f"), "--run"), /f: --run: is a file, not a folder/);
  assert.equal(readFileSync(path.join(dir, "f"), "utf8"), "keep");
});

test("writeFileAtomic replaces a file whole, and a failed write leaves the old one and no temporary", () => {
  const dir = tmp();
  const file = path.join(dir, "summary.json");
  writeFileAtomic(file, "one\n");
  writeFileAtomic(file, new TextEncoder().encode("two\n"));
  assert.equal(readFileSync(file, "utf8"), "two\n");
  // a folder in the file's place: the temporary is written, the rename fails, the temporary goes
  mkdirSync(path.join(dir, "taken"));
  assert.throws(() => writeFileAtomic(path.join(dir, "taken"), "y"), /EISDIR/);
  assert.deepEqual(temporaries(dir), []);
});

test("openAtomic: lines stream into a temporary; commit puts them in place, discard keeps the old file", () => {
  const dir = tmp();
  const file = path.join(dir, "results.jsonl");
  writeFileSync(file, "earlier\n");
  const failed = openAtomic(file);
  writeSync(failed.fd, "partial\n");
  assert.equal(readFileSync(file, "utf8"), "earlier\n");
  failed.discard();
  failed.discard();
  assert.equal(readFileSync(file, "utf8"), "earlier\n");
  assert.deepEqual(temporaries(dir), []);
  const ok = openAtomic(file);
  writeSync(ok.fd, "new\n");
  ok.commit();
  ok.discard(); // after commit: nothing to drop
  assert.equal(readFileSync(file, "utf8"), "new\n");
  assert.deepEqual(temporaries(dir), []);
  assert.throws(() => ok.commit(), /already committed/);
});

test("checkOutFile and checkInFile name the flag and what is wrong", () => {
  const dir = tmp();
  writeFileSync(path.join(dir, "in.jsonl"), "{}\n");
  assert.throws(() => checkOutFile(dir), /--out: is a folder, not a file/);
  assert.throws(() => checkOutFile(path.join(dir, "no", "o.jsonl")), /--out: the folder .*no does not exist/);
  assert.throws(
    () => checkOutFile(path.join(dir, "in.jsonl", "o.jsonl"), "--report"),
    /--report: .*in\.jsonl is a file, not a folder/,
  );
  checkOutFile(path.join(dir, "o.jsonl"));
  assert.throws(() => checkInFile(path.join(dir, "none.jsonl")), /none\.jsonl: --in: file not found/);
  assert.throws(() => checkInFile(dir), /--in: is a folder, not a file/);
  checkInFile(path.join(dir, "in.jsonl"));
  assert.equal(existsSync(path.join(dir, "o.jsonl")), false);
});
