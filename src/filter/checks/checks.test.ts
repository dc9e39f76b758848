import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { sharedDataDir } from "../../tasks/sources.ts";
import { parseCompletion } from "../../template/parse.ts";
import { formatCompletion } from "../../template/render.ts";
import {
  type CandidateRecord,
  checkCorrectness,
  checkLanguage,
  checkLength,
  checkParagraphs,
  checkRepetition,
  checkTemplate,
  checkTruncation,
  defaultCheckConfig as config,
  runChecks,
} from "./index.ts";

/** A candidate as distill generate writes it, parsed from `completion`. */
function candidate(completion: string, extra: Partial<CandidateRecord> = {}): CandidateRecord {
  return {
    prompt_id: "p",
    sample_index: 0,
    prompt: "Solve for x: 3x + 5 = 20",
    source: "builtin:equations",
    completion,
    finish_reason: "stop",
    ...parseCompletion(completion),
    ...extra,
  };
}

const clean = [
  "Equation: 3x + 5 = 20",
  "Subtract 5 from both sides: 3x = 20 - 5 = 15",
  "Divide both sides by 3: x = 15 / 3 = 5",
  "Check: 3*5 + 5 = 20",
];
const good = candidate(formatCompletion(clean.join("\n"), "x = 5"));

describe("checks", () => {
  it("pass a clean built-in trace", () => {
    for (const [name, verdict] of Object.entries(runChecks(good, config)))
      assert.equal(verdict.pass, true, `${name}: ${verdict.reason}`);
  });

  it("template: names the parsed problems", () => {
    const broken = candidate(formatCompletion("x = 5", "x = 5").replace("</think>", ""));
    const v = checkTemplate(broken, config);
    assert.equal(v.pass, false);
    assert.match(v.reason!, /missing:<\/think>/);
  });

  it("truncation: finish_reason length fails, a missing one cannot be checked", () => {
    assert.equal(checkTruncation(candidate("<think>x", { finish_reason: "length" }), config).pass, false);
    assert.equal(checkTruncation(candidate("<think>x", { finish_reason: undefined }), config).pass, null);
  });

  it("correctness: substitutes into the prompt's equation and ignores a wrong gold", () => {
    const wrongGold = { ...good, gold: "7" };
    assert.equal(checkCorrectness(wrongGold, config).pass, true);
    const slip = candidate(formatCompletion(clean.join("\n"), "x = 6"), { gold: "6" });
    const v = checkCorrectness(slip, config);
    assert.equal(v.pass, false);
    assert.match(v.reason!, /does not solve 3x \+ 5 = 20/);
    // broken markers: the answer written as prose still gets checked
    const prose = candidate(`<think>\n${clean.join("\n")}\n</think>\nSo the answer is x = 5.`);
    assert.equal(checkCorrectness(prose, config).pass, true);
    // a truncated completion's last number is not its answer
    const cut = candidate("<think>\nEquation: 3x + 5 = 20\nx = 5", { finish_reason: "length" });
    assert.equal(checkCorrectness(cut, config).pass, false);
  });

  it("correctness: verifier against gold elsewhere, text answers compared as text, null without gold", () => {
    const gsm = (answer: string, gold?: string) =>
      candidate(formatCompletion("work", answer), { source: "gsm8k:test", prompt: "How many?", gold });
    assert.equal(checkCorrectness(gsm("$1,000", "1000"), config).pass, true);
    assert.equal(checkCorrectness(gsm("999", "1000"), config).pass, false);
    assert.equal(checkCorrectness(gsm("999"), config).pass, null);
    // read as algebra, "ilcnep" is the same product of letters as "licnep": text answers are text
    assert.equal(checkCorrectness(gsm("ilcnep", "licnep"), config).pass, false);
    assert.equal(checkCorrectness(gsm("Tuesday.", "Tuesday"), config).pass, true);
    // built-in general requests are answered again from the prompt, gold or not
    const general = (answer: string) =>
      candidate(formatCompletion("This is a simple sort request.", answer), {
        source: "builtin:general",
        prompt: "Sort these numbers from smallest to largest: 9, 3, 5.",
        gold: "9, 5, 3",
      });
    assert.equal(checkCorrectness(general("3, 5, 9"), config).pass, true);
    assert.equal(checkCorrectness(general("3, 9, 5"), config).pass, false);
  });

  it("correctness: an unreadable answer is rejected unless keepUnverifiable", () => {
    const odd = candidate(formatCompletion("work", "x is five"));
    assert.equal(checkCorrectness(odd, config).pass, false);
    assert.equal(checkCorrectness(odd, { ...config, keepUnverifiable: true }).pass, null);
  });

  it("language: other scripts and Latin-script languages, not Greek math or code", () => {
    const withLine = (line: string) =>
      candidate(formatCompletion([...clean.slice(0, 2), line, ...clean.slice(2)].join("\n"), "x = 5"));
    const zh = checkLanguage(withLine("我们先把常数项移到等号的另一边。"), config);
    assert.equal(zh.pass, false);
    assert.match(zh.reason!, /Han/);
    assert.match(
      checkLanguage(withLine("Теперь перенесём свободный член в правую часть."), config).reason!,
      /Cyrillic/,
    );
    const da = checkLanguage(
      withLine("Nu flytter vi konstanten over på den anden side af lighedstegnet."),
      config,
    );
    assert.equal(da.pass, false);
    assert.match(da.reason!, /a da sentence/);
    for (const fine of [
      "Let $\\alpha = 2\\pi r$ and $\\theta = 30^\\circ$, so the angle θ is small.",
      "The area is πr², with Δx = 0.5 and λ = 2.",
      "```python\nprint('Привет, мир')  # 你好\n```",
      "Then \\[\\sum_{k} \\alpha_k \\beta_k = \\gamma\\] holds.",
    ])
      assert.equal(checkLanguage(withLine(fine), config).pass, true, fine);
    // another expected language: a Chinese trace may hold Latin variables, not Cyrillic
    const chinese = candidate(formatCompletion("我们先把常数项移到等号的另一边。所以 x = 5。", "x = 5"));
    assert.equal(checkLanguage(chinese, { ...config, language: "zh" }).pass, true);
  });

  it("language: no false positive on GSM8K's reference solutions and questions", (t) => {
    const dir = sharedDataDir();
    const file = dir && path.join(dir, "gsm8k", "test.jsonl");
    if (!file || !existsSync(file)) return t.skip("../shared/data/gsm8k not present");
    const rows = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const flagged = rows.filter((row) => {
      const solution = row.answer.replace(/<<[^>]*>>/g, "").replace(/\n####.*$/, "");
      const c = candidate(formatCompletion(`${row.question}\n${solution}`, "1"));
      return checkLanguage(c, config).pass !== true || checkParagraphs(c, config).pass !== true;
    });
    assert.equal(rows.length, 1319);
    assert.deepEqual(flagged, []);
  });

  it("paragraphs: characters and sentences, configurable", () => {
    const wall = candidate(formatCompletion(Array(30).fill("This step is fine.").join(" "), "x = 5"));
    assert.match(checkParagraphs(wall, config).reason!, /30 sentences > 15/);
    assert.equal(checkParagraphs(wall, { ...config, maxParagraphSentences: 40 }).pass, true);
    const long = candidate(formatCompletion("word ".repeat(300), "x = 5"));
    assert.match(checkParagraphs(long, config).reason!, /chars > 1000/);
    assert.equal(checkParagraphs(good, config).pass, true);
  });

  it("repetition: repeated lines and repeated n-grams inside one paragraph", () => {
    const loop = [...clean.slice(0, 2), ...Array(8).fill(clean[2]), ...clean.slice(2)];
    assert.match(
      checkRepetition(candidate(formatCompletion(loop.join("\n"), "x = 5")), config).reason!,
      /line repeated/,
    );
    const inline = candidate(formatCompletion(Array(8).fill(clean[1]).join(" "), "x = 5"));
    assert.match(checkRepetition(inline, config).reason!, /8-grams repeat/);
    // LaTeX environments repeat by nature
    const align = [1, 2, 3, 4, 5]
      .map((k) => `Case ${k} gives:\n\\begin{align*}\na_${k} &= b \\\\\nc &= d\n\\end{align*}`)
      .join("\n");
    assert.equal(checkRepetition(candidate(formatCompletion(align, "1")), config).pass, true);
  });

  it("length: bounds on the response", () => {
    assert.equal(checkLength(good, config).pass, true);
    assert.match(checkLength(good, { ...config, maxChars: 50 }).reason!, /> 50/);
    assert.match(checkLength(good, { ...config, minChars: 5000 }).reason!, /< 5000/);
  });

  it("never throw, whatever the record", () => {
    const junk = {
      prompt_id: "j",
      sample_index: 0,
      prompt: "",
      completion: "",
    } as unknown as CandidateRecord;
    for (const verdict of Object.values(runChecks(junk, config)))
      assert.ok([true, false, null].includes(verdict.pass));
  });
});
