import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { parseCompletion } from "../template/parse.ts";
import { UserError } from "../util/errors.ts";
import { mix } from "./mix.ts";
import { parseSourceSpec } from "./options.ts";
import { quote } from "./parquet.ts";
import { apportion, planCounts } from "./plan.ts";

interface Line {
  messages: { role: string; content: string }[];
  source: string;
  prompt_id: string;
}
const read = (file: string): Line[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

/** `n` kept rows as distill filter writes them, `perPrompt` responses a prompt. */
function keptRows(prefix: string, n: number, perPrompt = 1): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      prompt_id: `${prefix}-${Math.floor(i / perPrompt)}`,
      sample_index: i % perPrompt,
      prompt: `Solve for x: x + ${i} = ${2 * i} (${prefix})`,
      reasoning: `Subtract ${i} from both sides: x = ${i}`,
      answer: `x = ${i}`,
    }),
  ).join("\n");
}

describe("planCounts", () => {
  const src = (name: string, available: number, amount: { share?: number; count?: number }) => ({
    name,
    file: `${name}.jsonl`,
    available,
    ...amount,
  });
  it("gives exactly the requested counts", () => {
    assert.deepEqual(
      planCounts([src("r", 900, { share: 0.8 }), src("g", 300, { share: 0.2 })], 1000),
      [800, 200],
    );
    assert.deepEqual(apportion([{ share: 1 }, { share: 1 }, { share: 1 }], 100), [34, 33, 33]);
    assert.deepEqual(planCounts([src("r", 900, { count: 600 }), src("g", 300, { count: 200 })]), [600, 200]);
    // without a total, the largest mix the sources allow
    assert.deepEqual(
      planCounts([src("r", 900, { share: 0.75 }), src("g", 100, { share: 0.25 })]),
      [300, 100],
    );
  });
  it("says so when a source is too small (no replacement) or amounts disagree", () => {
    assert.throws(
      () => planCounts([src("r", 700, { share: 0.8 }), src("g", 300, { share: 0.2 })], 1000),
      /source "r" has 700 rows but 800 are asked \(0\.8 of 1000\); sampling is without replacement, so --total can be at most 875/,
    );
    assert.throws(
      () => planCounts([src("r", 10, { count: 20 })]),
      /has 10 rows but 20 are asked.*at most 10/,
    );
    assert.throws(
      () => planCounts([src("r", 10, { share: 0.5 }), src("g", 10, { share: 0.2 })]),
      /sum to 0\.7/,
    );
    assert.throws(
      () => planCounts([src("r", 900, { share: 0.8 }), src("g", 300, { count: 100 })], 1000),
      /= 900 rows, not --total 1000/,
    );
  });
  it("parses name=path[:share|:count]", () => {
    assert.deepEqual(parseSourceSpec("r=runs/a:b/kept.jsonl:0.8"), {
      name: "r",
      file: "runs/a:b/kept.jsonl",
      share: 0.8,
    });
    assert.deepEqual(parseSourceSpec("g=gen.jsonl:80%"), { name: "g", file: "gen.jsonl", share: 0.8 });
    assert.deepEqual(parseSourceSpec("g=gen.jsonl:200"), { name: "g", file: "gen.jsonl", count: 200 });
    assert.deepEqual(parseSourceSpec("g=gen.jsonl"), { name: "g", file: "gen.jsonl" });
    assert.throws(() => parseSourceSpec("gen.jsonl"), /name=path/);
    assert.throws(() => parseSourceSpec("g=gen.jsonl:1.5"), /\(0, 1\]/);
  });
});

describe("distill mix", () => {
  let dir: string;
  let reasoning: string;
  let general: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mix-"));
    reasoning = path.join(dir, "reasoning.jsonl");
    general = path.join(dir, "general.jsonl");
    writeFileSync(reasoning, keptRows("eq", 1000, 2));
    writeFileSync(general, keptRows("gen", 300));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("draws exactly 0.8/0.2 of the total, shuffled, in chat format with the template", async () => {
    const out = path.join(dir, "out");
    const s = await mix({
      source: [`reasoning=${reasoning}:0.8`, `general=${general}:0.2`],
      total: 1000,
      validation: 0.05,
      out,
      quiet: true,
    });
    const train = read(path.join(out, "train.jsonl"));
    const validation = read(path.join(out, "validation.jsonl"));
    const all = [...train, ...validation];
    const count = (source: string) => all.filter((r) => r.source === source).length;
    assert.equal(count("reasoning"), 800);
    assert.equal(count("general"), 200);
    assert.deepEqual(s.drawn, {
      reasoning: { available: 1000, drawn: 800 },
      general: { available: 300, drawn: 200 },
    });
    assert.ok(Math.abs(validation.length - 50) <= 1, `validation ${validation.length}`);
    // without replacement: no row twice; a prompt's rows all in one split
    assert.equal(new Set(all.map((r) => r.messages[0].content)).size, 1000);
    const trainPrompts = new Set(train.map((r) => `${r.source}/${r.prompt_id}`));
    assert.ok(validation.every((r) => !trainPrompts.has(`${r.source}/${r.prompt_id}`)));
    // shuffled: the sources are interleaved, not one block after the other
    assert.ok(train.slice(0, 100).some((r) => r.source === "general"));
    const [user, assistant] = train[0].messages;
    assert.equal(user.role, "user");
    assert.match(user.content, /^Solve for x/);
    assert.equal(assistant.role, "assistant");
    assert.equal(parseCompletion(assistant.content).conforms, true);
    const stats = JSON.parse(readFileSync(path.join(out, "stats.json"), "utf8"));
    assert.equal(stats.rows.train.reasoning + stats.rows.validation.reasoning, 800);
    assert.equal(stats.assistant_length.all.chars.count, 1000);
    assert.ok(stats.assistant_length.general.tokens_approx.p50 > 5);

    // the same seed gives the same files; another seed another draw
    await mix({
      source: [`reasoning=${reasoning}:0.8`, `general=${general}:0.2`],
      total: 1000,
      out,
      quiet: true,
    });
    assert.deepEqual(read(path.join(out, "train.jsonl")), train);
    const other = path.join(dir, "other");
    await mix({
      source: [`reasoning=${reasoning}:0.8`, `general=${general}:0.2`],
      total: 1000,
      seed: 1,
      out: other,
      quiet: true,
    });
    assert.notDeepEqual(read(path.join(other, "train.jsonl")), train);
  });

  it("writes Parquet that reads back in DuckDB with the nested messages type", async () => {
    const out = path.join(dir, "pq");
    await mix({
      source: [`reasoning=${reasoning}:600`, `general=${general}:150`],
      validation: 0.1,
      out,
      quiet: true,
    });
    const instance = await DuckDBInstance.create(":memory:");
    const db = await instance.connect();
    try {
      const file = quote(path.join(out, "train.parquet"));
      const schema = await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${file})`);
      const types = Object.fromEntries(schema.getRowObjectsJson().map((r) => [r.column_name, r.column_type]));
      assert.deepEqual(types, {
        messages: 'STRUCT("role" VARCHAR, "content" VARCHAR)[]',
        source: "VARCHAR",
        prompt_id: "VARCHAR",
      });
      const counts = await db.runAndReadAll(
        `SELECT source, count(*)::INTEGER AS n, min(len(messages))::INTEGER AS turns FROM read_parquet(${file}) GROUP BY source ORDER BY source`,
      );
      const train = read(path.join(out, "train.jsonl"));
      const expected = ["general", "reasoning"].map((source) => ({
        source,
        n: train.filter((r) => r.source === source).length,
        turns: 2,
      }));
      assert.deepEqual(counts.getRowObjectsJson(), expected);
      // the rows themselves, nested fields included, equal the JSONL
      const first = await db.runAndReadAll(
        `SELECT messages[2].content AS answer, messages[1].role AS role FROM read_parquet(${file}) LIMIT 1`,
      );
      assert.deepEqual(first.getRowObjectsJson()[0], { answer: train[0].messages[1].content, role: "user" });
      const validation = await db.runAndReadAll(
        `SELECT count(*)::INTEGER AS n FROM read_parquet(${quote(path.join(out, "validation.parquet"))})`,
      );
      assert.equal(validation.getRowObjectsJson()[0].n, read(path.join(out, "validation.jsonl")).length);
    } finally {
      db.closeSync();
      instance.closeSync();
    }
  });

  it("bad input: clear message with file, line and field; earlier outputs untouched", async () => {
    const out = path.join(dir, "safe");
    await mix({ source: [`reasoning=${reasoning}:100`], validation: 0, out, quiet: true });
    const before = readdirSync(out).map((f) => readFileSync(path.join(out, f)));
    const bad = path.join(dir, "bad.jsonl");
    const attempt = async (content: string, pattern: RegExp, spec = `bad=${bad}`) => {
      writeFileSync(bad, content);
      await assert.rejects(mix({ source: [spec], out, quiet: true }), (err: Error) => {
        assert.ok(err instanceof UserError, err.stack);
        assert.match(err.message, pattern);
        return true;
      });
    };
    const row = JSON.parse(keptRows("x", 1));
    await attempt(`${JSON.stringify(row)}\n{oops\n`, /bad\.jsonl:2: not valid JSON/);
    await attempt(
      `${JSON.stringify(row)}\n${JSON.stringify({ ...row, answer: undefined })}\n`,
      /bad\.jsonl:2, field "answer": missing/,
    );
    await attempt(
      `${JSON.stringify({ messages: [{ role: "user", content: "hi" }] })}\n`,
      /bad\.jsonl:1, field "messages"/,
    );
    await attempt("", /bad\.jsonl: empty file: source "bad" has no rows/);
    await attempt(`${JSON.stringify(row)}\n`, /has 1 rows but 5 are asked/, `bad=${bad}:5`);
    await assert.rejects(
      mix({ source: [`r=${path.join(dir, "none.jsonl")}`], out, quiet: true }),
      /none\.jsonl: file not found/,
    );
    assert.deepEqual(
      readdirSync(out).map((f) => readFileSync(path.join(out, f))),
      before,
    );
    assert.ok(!readdirSync(out).some((f) => f.startsWith(".mix-")));
  });
});
