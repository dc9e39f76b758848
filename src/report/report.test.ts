import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { hostileText, writeFixtureRun } from "../../test/support/fixtureRun.ts";
import type { EvaluatedRecord } from "../evaluate/evaluate.ts";
import { UserError } from "../util/errors.ts";
import { accuracySpec } from "./charts.ts";
import { reportCommand } from "./command.ts";
import { pickExamples } from "./examples.ts";
import { escapeHtml } from "./html.ts";
import { completionHtml, renderReport, report } from "./report.ts";
import { readRun } from "./run.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-report-"));

/** The inline SVG of one chart, by its figure's data-chart name. */
function chartSvg(html: string, name: string): string {
  const start = html.indexOf(`data-chart="${name}"`);
  assert.ok(start >= 0, `chart ${name} missing`);
  return html.slice(start, html.indexOf("</figure>", start));
}
/** Marks of a kind vega drew (rect, line, symbol, text), counted in the SVG text. */
function marks(svg: string, kind: string): number {
  let count = 0;
  for (const group of svg.split(`<g class="mark-${kind} role-mark`).slice(1)) {
    count += (group.slice(0, group.indexOf("</g>")).match(/<(path|text) /g) ?? []).length;
  }
  return count;
}

describe("distill report", () => {
  const dir = tmp();
  const run = writeFixtureRun(path.join(dir, "run"), { items: 30, hostile: true });

  it("writes one self-contained page with every section and chart", async () => {
    const out = await report({ run });
    assert.equal(out, path.join(run, "report.html"));
    const html = readFileSync(out, "utf8");
    for (const id of ["results", "funnel", "loss", "accuracy", "lengths", "examples", "time"]) {
      assert.match(html, new RegExp(`<section id="${id}">`));
    }
    assert.doesNotMatch(html, /class="missing"/);
    const summary = JSON.parse(readFileSync(path.join(run, "summary.json"), "utf8"));
    // nothing to fetch: no script, no external reference of any kind
    assert.doesNotMatch(html, /<script|<link|src=|@import|https?:\/\/(?!www\.w3\.org\/)/);
    assert.equal(marks(chartSvg(html, "funnel"), "rect"), 8);
    assert.equal(marks(chartSvg(html, "loss"), "line"), 3);
    assert.equal(marks(chartSvg(html, "loss"), "symbol"), 9);
    assert.equal(marks(chartSvg(html, "accuracy"), "rect"), 4 * 6);
    assert.ok(marks(chartSvg(html, "lengths"), "rect") >= 4);
    const [d, b] = [summary.models.distilled.accuracy, summary.models.base.accuracy];
    assert.ok(html.includes(`(+${(100 * (d - b)).toFixed(1)} points) on 30 held-out items`));
    // the headline table has each model's accuracy as summary.json gives it
    for (const [model, s] of Object.entries<{ accuracy: number }>(summary.models)) {
      assert.match(
        html,
        new RegExp(`<th>${model}</th><td class="num"><strong>${(100 * s.accuracy).toFixed(1)}%`),
      );
    }
  });

  it("shows completions as escaped text, never as markup", async () => {
    const html = readFileSync(await report({ run, out: path.join(dir, "page.html") }), "utf8");
    assert.ok(html.includes(escapeHtml(hostileText)));
    assert.ok(!html.includes(hostileText));
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("picks items where distilled is right and base wrong, plus one where distilled is wrong", () => {
    const data = readRun(run);
    const { examples, tally } = pickExamples(data.results, data.models);
    assert.ok(tally && tally.both === 30 && tally.wins >= 3, JSON.stringify(tally));
    assert.equal(examples.length, 4);
    const verdict = (e: (typeof examples)[number], model: string) =>
      e.answers.find((a) => a.model === model)?.record?.correct;
    for (const e of examples.slice(0, 3)) {
      assert.deepEqual([verdict(e, "distilled"), verdict(e, "base")], [true, false]);
      assert.deepEqual(
        e.answers.map((a) => a.record?.prompt_id),
        [e.promptId, e.promptId, e.promptId, e.promptId],
      );
    }
    assert.equal(verdict(examples[3], "distilled"), false);
    assert.equal(
      examples[3].why,
      `distilled wrong, base ${examples[3].answers[1].record?.correct ? "right" : "wrong"}`,
    );
    for (const e of examples.slice(0, 3)) assert.equal(e.why, "distilled right, base wrong");
    // one band after another before a band repeats
    assert.equal(new Set(examples.slice(0, 3).map((e) => e.band)).size, 3);
  });

  it("reads the filter stage's funnel.json when summary.json has no funnel, and says which parts are missing", async () => {
    const partial = path.join(dir, "partial");
    cpSync(path.join(run, "eval", "teacher"), path.join(partial, "eval", "teacher"), { recursive: true });
    mkdirSync(path.join(partial, "filter"));
    writeFileSync(
      path.join(partial, "filter", "funnel.json"),
      JSON.stringify({
        candidates: 100,
        prompts: 25,
        steps: [
          { step: "template", removed: 10, remaining: 90 },
          { step: "correctness", removed: 30, remaining: 60 },
          { step: "rejection-sampling (best)", removed: 35, remaining: 25 },
        ],
      }),
    );
    const html = readFileSync(await report({ run: partial }), "utf8");
    assert.equal(marks(chartSvg(html, "funnel"), "rect"), 4);
    assert.match(html, /100 candidates → 25 after rejection-sampling \(best\)/);
    assert.match(html, /<strong>Loss curves<\/strong> left out: no models\/&lt;model&gt;\/metrics\.jsonl/);
    assert.doesNotMatch(html, /<section id="time">/);
    // the demo's layout: filter/equations/funnel.json
    mkdirSync(path.join(partial, "filter", "equations"));
    renameSync(
      path.join(partial, "filter", "funnel.json"),
      path.join(partial, "filter", "equations", "funnel.json"),
    );
    assert.deepEqual(readRun(partial).funnel?.at(-1), ["rejection-sampling (best)", 25]);
    // the results table comes from eval/teacher/summary.json; one model, so no comparison
    assert.match(html, /<th>teacher<\/th>/);
    assert.match(html, /The first held-out items of the run/);
  });

  it("names the file, line and field of bad input, and refuses an empty folder", async () => {
    const bad = path.join(dir, "bad");
    mkdirSync(bad);
    await assert.rejects(
      report({ run: bad }),
      (e) => e instanceof UserError && /nothing to report/.test(e.message),
    );
    writeFileSync(
      path.join(bad, "summary.json"),
      JSON.stringify({ models: { base: { n: 5, accuracy: "high" } } }),
    );
    await assert.rejects(report({ run: bad }), /summary\.json, field "models\.base\.accuracy"/);
    rmSync(path.join(bad, "summary.json"));
    mkdirSync(path.join(bad, "eval", "base"), { recursive: true });
    const results = path.join(bad, "eval", "base", "results.jsonl");
    writeFileSync(results, '{"prompt_id": "a"}\n');
    await assert.rejects(report({ run: bad }), /results\.jsonl:1, field "prompt"/);
    writeFileSync(
      results,
      `${readFileSync(path.join(run, "eval", "base", "results.jsonl"), "utf8")}\n{oops\n`,
    );
    await assert.rejects(report({ run: bad }), /results\.jsonl:32: not valid JSON/);
    await assert.rejects(report({ run: path.join(dir, "nowhere") }), /run folder not found/);
  });

  it("runs as `distill report --run … --out …`", async () => {
    // The command itself, without a child process: the CLI's startup compiles every stage (seconds).
    await reportCommand.parseAsync(["--run", run, "--out", path.join(dir, "cli.html")], { from: "user" });
    assert.match(readFileSync(path.join(dir, "cli.html"), "utf8"), /<section id="examples">/);
  });

  it("still compares when distilled wins nowhere, and labels every item with both verdicts", () => {
    const data = readRun(run);
    const results = {
      ...data.results,
      distilled: data.results.distilled.map((r) => ({ ...r, correct: false })),
    };
    const { examples, tally } = pickExamples(results, data.models);
    assert.equal(tally?.wins, 0);
    assert.equal(examples.length, 3);
    for (const e of examples) assert.match(e.why, /^distilled wrong, base (right|wrong)$/);
  });

  it("does not repeat the overall figure as a band when items have no band", async () => {
    const data = readRun(run);
    const scores = { teacher: { ...data.scores.teacher, by_band: { all: data.scores.teacher } } };
    const values = (accuracySpec(scores, ["teacher"]) as { data: { values: { band: string }[] } }).data
      .values;
    assert.deepEqual(
      values.map((v) => v.band),
      ["all"],
    );
    const html = await renderReport({ ...data, models: ["teacher"], scores, results: {}, metrics: {} });
    assert.doesNotMatch(html, /<h3>By band<\/h3>/);
  });

  it("folds runs of blank lines and says when a completion is empty", () => {
    assert.equal(
      completionHtml(`a\n${"\n".repeat(40)}b <c>`),
      "<pre>a\n[… 41 line breaks …]\nb &lt;c&gt;</pre>",
    );
    assert.equal(completionHtml("a\n\n\nb"), "<pre>a\n\n\nb</pre>");
    assert.match(completionHtml("\n".repeat(128)), /empty completion \(128 whitespace characters\)/);
  });

  it("handles records as the eval stage writes them (sample_index, null verdicts)", () => {
    const records = readRun(run)
      .results.base.slice(0, 2)
      .map(
        (r, i): EvaluatedRecord => ({
          ...r,
          prompt_id: "same",
          sample_index: 1 - i,
          correct: i ? null : true,
        }),
      );
    const { examples } = pickExamples({ base: records }, ["base"]);
    assert.equal(examples.length, 1);
    assert.equal(examples[0].answers[0].record?.sample_index, 0, "the first sample is shown");
  });
});
