import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { UserError } from "../util/errors.ts";
import { type GenerationRecord, generate } from "./generate.ts";

const readLines = (file: string): GenerationRecord[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("run configurations", () => {
  it("refuses changed settings naming them and --new-params; with it, continues as a new configuration in its own files", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "distill-config-"));
    const base = { prompts: "builtin:equations?count=10", teacher: "builtin:equations", out, quiet: true };
    const first = await generate(base);
    const plain = path.join(out, "generations.jsonl");
    const before = readFileSync(plain, "utf8");
    await assert.rejects(
      generate({ ...base, temperature: 0.9, maxTokens: 512 }),
      (e: unknown) =>
        e instanceof UserError &&
        /temperature 0\.6 → 0\.9, maxTokens 4096 → 512/.test(e.message) &&
        /--new-params/.test(e.message),
    );
    // the endpoints serving a model are not part of its identity; the model is
    await assert.rejects(
      generate({ ...base, teacher: "builtin:general" }),
      /teacher "builtin:equations" → "builtin:general"/,
    );

    const second = await generate({ ...base, temperature: 0.9, newParams: true });
    assert.notEqual(second.config, first.config);
    assert.equal(second.file, path.join(out, `generations-${second.config}.jsonl`));
    assert.equal(second.written, 40);
    assert.equal(readFileSync(plain, "utf8"), before, "the first configuration's file is untouched");
    assert.ok(
      readLines(second.file).every((r) => r.config === second.config && r.params.temperature === 0.9),
    );
    assert.ok(readLines(plain).every((r) => r.config === first.config && r.params.temperature === 0.6));
    assert.ok(existsSync(path.join(out, `failed-${second.config}.jsonl`)));

    // either configuration resumes by its settings, with no flag
    const again = await generate({ ...base, temperature: 0.9 });
    assert.equal(again.config, second.config);
    assert.equal(again.resumed, 40);
    const back = await generate(base);
    assert.equal(back.config, first.config);
    assert.equal(back.resumed, 40);
    const info = JSON.parse(readFileSync(path.join(out, "generate.json"), "utf8"));
    assert.deepEqual(
      info.configs.map((c: { id: string }) => c.id),
      [first.config, second.config],
    );
  });
});
