import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type EvaluatedRecord, scoreRecords } from "../../src/evaluate/evaluate.ts";
import { equationPrompt, generateEquations } from "../../src/tasks/equations/generate.ts";
import { solveSteps } from "../../src/tasks/equations/steps.ts";
import { hashSeed, seededRandom } from "../../src/util/random.ts";
import { countTokens } from "../../src/util/tokens.ts";

/**
 * A run folder as the demo writes it, built in milliseconds for the report's tests and benchmark:
 * real held-out equations, step-by-step traces from the built-in solver (with real arithmetic slips
 * for wrong answers), and per-model accuracy, format and truncation profiles like a small run's.
 * The scores in summary.json are computed from the results by the eval stage's own `scoreRecords`.
 */
export interface FixtureOptions {
  /** Held-out items; every model answers each once. */
  items?: number;
  seed?: number;
  /** Put HTML and a script into distilled_unfiltered's completions, to prove the page escapes them. */
  hostile?: boolean;
  /** Training steps of the distilled model (base has 60%, distilled_unfiltered the same). */
  steps?: number;
}

/** Probability of a correct answer per band (bands as the built-in task orders them). */
const profiles: Record<string, { accuracy: number[]; format: number; truncation: number; style: string }> = {
  teacher: { accuracy: [0.98, 0.95, 0.9, 0.85, 0.7], format: 0.95, truncation: 0.02, style: "trace" },
  base: { accuracy: [0.3, 0.15, 0.08, 0.05, 0.02], format: 0.9, truncation: 0, style: "answer" },
  distilled: { accuracy: [0.85, 0.7, 0.45, 0.3, 0.1], format: 0.97, truncation: 0.02, style: "trace" },
  distilled_unfiltered: {
    accuracy: [0.6, 0.45, 0.25, 0.15, 0.05],
    format: 0.8,
    truncation: 0.15,
    style: "ramble",
  },
};

export const hostileText = `<script>document.title = "injected"</script> <b>bold?</b> & "quoted"`;

export function writeFixtureRun(dir: string, options: FixtureOptions = {}): string {
  const { items = 40, seed = 1, hostile = false, steps = 120 } = options;
  const problems = generateEquations({ count: items, seed, split: "test" });
  const bandIndex = new Map(
    ["one-step", "two-step", "both-sides", "parentheses", "fractions"].map((b, i) => [b, i]),
  );
  const models: Record<string, ReturnType<typeof scoreRecords> & { by_band: Record<string, unknown> }> = {};
  const benchmark = `builtin:equations?split=test&count=${items}`;
  for (const [model, profile] of Object.entries(profiles)) {
    const random = seededRandom(hashSeed("report-fixture", model, seed));
    const records: EvaluatedRecord[] = problems.map((p, i) => {
      const right = random() < profile.accuracy[bandIndex.get(p.band) ?? 0];
      const solved = solveSteps(p.equation, right ? undefined : { step: "constant", delta: 1 + (i % 3) });
      const conforms = random() < profile.format;
      const truncated = random() < profile.truncation;
      let reasoning = profile.style === "answer" ? "" : solved.lines.join("\n");
      if (profile.style === "ramble" && random() < 0.5)
        reasoning += `\nWait, let me check again.\n${reasoning}`;
      if (truncated) reasoning += `\n${"Check again. ".repeat(60)}`;
      let completion = truncated
        ? `<think>\n${reasoning}`
        : conforms
          ? `<think>\n${reasoning}\n</think>\n<answer>${solved.answer}</answer>`
          : `${reasoning}\nSo ${solved.answer}`;
      if (hostile && model === "distilled_unfiltered") completion += `\n${hostileText}`;
      return {
        prompt_id: p.id,
        sample_index: 0,
        prompt: equationPrompt(p.equation),
        gold: p.solution,
        source: benchmark,
        band: p.band,
        completion,
        reasoning: reasoning || null,
        answer: truncated ? null : solved.answer,
        boxed: null,
        conforms: conforms && !truncated,
        problems: [],
        finish_reason: truncated ? "length" : "stop",
        usage: { prompt_tokens: countTokens(p.equation) + 12, completion_tokens: countTokens(completion) },
        latency_ms: 1,
        attempts: 1,
        teacher: model,
        params: { temperature: 0, top_p: 1, max_tokens: 256 },
        seed,
        created_at: "2026-01-01T00:00:00.000Z",
        correct: truncated ? false : right,
      };
    });
    const evalDir = path.join(dir, "eval", model);
    mkdirSync(evalDir, { recursive: true });
    writeFileSync(path.join(evalDir, "results.jsonl"), records.map((r) => `${JSON.stringify(r)}\n`).join(""));
    const bands = [...new Set(records.map((r) => r.band as string))];
    models[model] = {
      ...scoreRecords(records),
      by_band: Object.fromEntries(bands.map((b) => [b, scoreRecords(records.filter((r) => r.band === b))])),
    };
    writeFileSync(
      path.join(evalDir, "summary.json"),
      JSON.stringify({ model, benchmark, ...models[model], seconds: 1 }, null, 2),
    );
  }

  const trained = { base: Math.round(steps * 0.6), distilled: steps, distilled_unfiltered: steps };
  for (const [model, count] of Object.entries(trained)) {
    const random = seededRandom(hashSeed("report-fixture-loss", model, seed));
    const floor = model === "base" ? 0.9 : model === "distilled" ? 0.12 : 0.3;
    const lines: string[] = [];
    const epochs = 3;
    for (let step = 1; step <= count; step++) {
      const loss = floor + 5 * Math.exp(-step / (count / 6)) + 0.08 * (random() - 0.5);
      lines.push(
        JSON.stringify({ step, epoch: Math.ceil((step * epochs) / count), loss, lr: 1e-3, grad_norm: 1 }),
      );
      if ((step * epochs) % count === 0) {
        lines.push(JSON.stringify({ step, epoch: (step * epochs) / count, val_loss: loss * 1.08 }));
      }
    }
    mkdirSync(path.join(dir, "models", model), { recursive: true });
    writeFileSync(path.join(dir, "models", model, "metrics.jsonl"), `${lines.join("\n")}\n`);
  }

  const candidates = items * 8 * 4;
  const funnel: Record<string, number> = { candidates };
  let left = candidates;
  for (const [check, keep] of [
    ["template", 0.9],
    ["truncation", 0.97],
    ["correctness", 0.8],
    ["language", 0.95],
    ["repetition", 0.93],
    ["rejection-sampling (best-of-n)", 0.3],
    ["dedup-response-near", 0.96],
  ] as const) {
    left = Math.round(left * keep);
    funnel[check] = left;
  }
  const seconds = { generate: 12.5, filter: 1.2, mix: 0.3, train: 240, eval: 30.1 };
  writeFileSync(path.join(dir, "summary.json"), JSON.stringify({ models, funnel, seconds }, null, 2));
  return dir;
}
