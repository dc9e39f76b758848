import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { UserError } from "../util/errors.ts";
import { formatSummary, verifyCommand } from "./command.ts";
import { verify, verifyFile } from "./verify.ts";

const dir = mkdtempSync(join(tmpdir(), "distill-verify-"));
const lines = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;
const readOut = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

test("writes every line back with equivalent, copies other fields, counts agreement per category", async () => {
  const input = join(dir, "cases.jsonl");
  const output = join(dir, "results.jsonl");
  writeFileSync(
    input,
    lines([
      { id: "a", gold: "1/2", pred: "The answer is $\\frac{1}{2}$", expected: 1, category: "frac" },
      { id: "b", gold: "1/3", pred: "0.33", expected: 1, category: "frac", precision: 2 },
      { id: "c", gold: 2, pred: "3", expected: 0, category: "int" },
      { id: "d", gold: "\\frac{", pred: "1" },
    ]),
  );
  const summary = await verify({ in: input, out: output });
  assert.deepEqual(
    readOut(output).map((r) => [r.id, r.equivalent]),
    [
      ["a", true],
      ["b", true],
      ["c", false],
      ["d", null],
    ],
  );
  assert.equal(readOut(output)[1].precision, 2);
  assert.deepEqual(summary.verdicts, { true: 2, false: 1, null: 1 });
  assert.equal(summary.agreement?.agree, 3);
  assert.equal(summary.agreement?.total, 3);
  assert.deepEqual(summary.agreement?.byCategory.frac, { total: 2, agree: 2, undecided: 0, rate: 1 });
});

test("a bad line stops with file, line and field; an earlier results file stays as it was, no temporary file", async () => {
  const input = join(dir, "bad.jsonl");
  const output = join(dir, "bad-out.jsonl");
  writeFileSync(
    input,
    `${lines([
      { gold: "1", pred: "1" },
      { gold: "2", pred: "2" },
    ])}\n{"gold": "3"}\n`,
  );
  await assert.rejects(verifyFile(input, output), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /bad\.jsonl:4, field "pred": missing/);
    return true;
  });
  assert.throws(() => readFileSync(output), /ENOENT/);
  writeFileSync(input, lines([{ gold: "1", pred: "1" }]));
  await verifyFile(input, output);
  const earlier = readFileSync(output, "utf8");
  writeFileSync(input, `${lines([{ gold: "1", pred: "1" }])}\n{"gold": "3"}\n`);
  await assert.rejects(verifyFile(input, output), /field "pred": missing/);
  assert.equal(readFileSync(output, "utf8"), earlier);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes(".tmp-")),
    [],
  );
  writeFileSync(input, `${lines([{ gold: "1", pred: "1" }])}{not json\n`);
  await assert.rejects(verifyFile(input, output), /bad\.jsonl:2: not valid JSON/);
  writeFileSync(input, lines([{ gold: "1", pred: "1", precision: -1 }]));
  await assert.rejects(verifyFile(input, output), /field "precision"/);
  writeFileSync(input, "\n\n");
  await assert.rejects(verifyFile(input, output), /input is empty/);
  await assert.rejects(
    verifyFile(join(dir, "missing.jsonl"), output),
    /missing\.jsonl: --in: file not found/,
  );
  await assert.rejects(verifyFile(dir, output), /--in: is a folder, not a file/);
  await assert.rejects(verifyFile(input, dir), /--out: is a folder, not a file/);
  await assert.rejects(
    verifyFile(input, join(dir, "nowhere", "o.jsonl")),
    /--out: the folder .*nowhere does not exist/,
  );
});

test("distill verify: the printed summary has agreement per category; a bad line rejects with a UserError", async () => {
  const input = join(dir, "cli.jsonl");
  const output = join(dir, "cli-out.jsonl");
  writeFileSync(input, lines([{ gold: "x = 2", pred: "2", expected: 1, category: "eq" }]));
  const text = formatSummary(await verifyFile(input, output), output);
  assert.match(text, /1 lines → .*: 1 equivalent, 0 not, 0 undecided/);
  assert.match(text, /agreement with expected: 1\/1 = 100\.0%/);
  assert.match(text, /eq\s+1\/1\s+100\.0%/);
  // cli.ts prints a UserError's message alone and exits 2 (spawning the CLI would load every stage).
  writeFileSync(input, "[1, 2]\n");
  await assert.rejects(
    verifyCommand.parseAsync(["--in", input, "--out", output], { from: "user" }),
    (err: unknown) =>
      err instanceof UserError && /cli\.jsonl:1: each line must be a JSON object/.test(err.message),
  );
});
