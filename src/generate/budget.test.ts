import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { UserError } from "../util/errors.ts";
import { costOf } from "./budget.ts";
import { type GenerationRecord, generate } from "./generate.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-budget-"));
const readRecords = (out: string): GenerationRecord[] =>
  readFileSync(path.join(out, "generations.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const tokensOf = (r: GenerationRecord) => r.usage.prompt_tokens + r.usage.completion_tokens;

describe("generation budgets", () => {
  const base = {
    prompts: "builtin:equations?count=400",
    teacher: "builtin:equations",
    temperature: 0.8,
    concurrency: 16,
    samplesPerPrompt: 1,
    quiet: true,
  };

  it("stops within one request's worth of tokens of --max-tokens-total, and resumes under a raised one", async () => {
    const out = tmp();
    const first = await generate({ ...base, out, maxTokensTotal: 20_000 });
    let records = readRecords(out);
    const biggest = Math.max(...records.map(tokensOf));
    const spent = records.reduce((sum, r) => sum + tokensOf(r), 0);
    assert.equal(first.stopped, "budget");
    assert.ok(first.remaining > 0);
    assert.equal(first.spent.promptTokens + first.spent.completionTokens, spent, "spent is what is on disk");
    assert.ok(Math.abs(spent - 20_000) <= biggest, `spent ${spent} of 20,000 (one request: ≤ ${biggest})`);
    const info = JSON.parse(readFileSync(path.join(out, "generate.json"), "utf8"));
    assert.equal(info.summary.stopped, "budget");

    // resumed under a raised budget: what is on disk counts, so it spends only the difference
    const second = await generate({ ...base, out, maxTokensTotal: 40_000 });
    records = readRecords(out);
    const spentNow = records.reduce((sum, r) => sum + tokensOf(r), 0);
    assert.equal(second.resumed, first.written);
    assert.ok(Math.abs(spentNow - 40_000) <= biggest * 2, `spent ${spentNow} of 40,000`);
    assert.equal(second.spent.promptTokens + second.spent.completionTokens, spentNow);

    const third = await generate({ ...base, out });
    assert.equal(third.stopped, undefined);
    assert.equal(third.candidates, 400);
    assert.equal(new Set(readRecords(out).map((r) => r.prompt_id)).size, 400);
  });

  it("--max-cost prices tokens by the recipe's table and needs a price for the model", async () => {
    const prices = { equations: { input: 100, output: 300 } }; // USD per million tokens
    const out = tmp();
    const summary = await generate({ ...base, out, maxCost: 2, prices });
    const records = readRecords(out);
    const cost = costOf(
      prices.equations,
      records.reduce((s, r) => s + r.usage.prompt_tokens, 0),
      records.reduce((s, r) => s + r.usage.completion_tokens, 0),
    );
    const biggest = Math.max(
      ...records.map((r) => costOf(prices.equations, r.usage.prompt_tokens, r.usage.completion_tokens)),
    );
    assert.equal(summary.stopped, "budget");
    assert.ok(Math.abs(summary.spent.cost! - cost) < 1e-9);
    assert.ok(Math.abs(cost - 2) <= biggest, `spent $${cost} of $2`);
    await assert.rejects(
      generate({ ...base, out: tmp(), maxCost: 1 }),
      (e: unknown) => e instanceof UserError && /--max-cost needs a price for "equations"/.test(e.message),
    );
  });
});
