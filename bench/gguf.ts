/**
 * The student on a device: a trained student of a demo run exported as F32, F16, Q8_0, Q4_K_M and Q4_0
 * GGUF, each measured in llama.cpp (node-llama-cpp, CPU) — file size, prompt and generation tokens/s,
 * mean KL per token against the F32 file on the folder's own greedy completions, and accuracy and format
 * by band on the run's held-out equations through `distill eval --model gguf:` — beside the model folder
 * and `distill serve` on the same items. One JSON line per case.
 *
 *   npx tsx bench/gguf.ts [--run runs/demo] [--model distilled] [--kl-items 20]
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { type EvaluatedRecord, type EvaluateSummary, evaluate } from "../src/evaluate/evaluate.ts";
import { exportModel } from "../src/export/export.ts";
import { serve } from "../src/serve/serve.ts";
import { loadTokenizer } from "../src/tokenizer/tokenizer.ts";
import { llamaLogProbs, meanKl } from "../test/support/llamaCpp.ts";

const { values: opts } = parseArgs({
  options: {
    run: { type: "string", default: "runs/demo" },
    model: { type: "string", default: "distilled" },
    "kl-items": { type: "string", default: "20" },
    "max-tokens": { type: "string", default: "160" },
  },
});
const folder = path.join(opts.run, "models", opts.model);
const benchmark = JSON.parse(readFileSync(path.join(opts.run, "eval", opts.model, "summary.json"), "utf8"))
  .benchmark as string;
const maxTokens = Number(opts["max-tokens"]);
const work = mkdtempSync(path.join(tmpdir(), "distill-bench-gguf-"));
const log = (msg: string) => process.stderr.write(`bench:gguf: ${msg}\n`);

const score = (model: string, out: string) =>
  evaluate({ model, benchmark, out: path.join(work, out), maxTokens, temperature: 0, quiet: true });
const bands = (s: EvaluateSummary) =>
  Object.fromEntries(
    Object.entries(s.by_band).map(([band, b]) => [band, { accuracy: b.accuracy, format: b.format_rate }]),
  );
const report = (row: Record<string, unknown>) => console.log(JSON.stringify(row));

log(`${folder} on ${benchmark}, ${maxTokens} tokens, greedy`);
const own = await score(folder, "eval-folder");
report({
  case: "folder",
  accuracy: own.accuracy,
  format: own.format_rate,
  by_band: bands(own),
  eval_s: own.seconds,
});
const running = await serve({ model: folder, name: "student", port: 0 });
const served = await score(`openai:student@${running.url}`, "eval-serve");
await running.close();
report({
  case: "serve",
  accuracy: served.accuracy,
  format: served.format_rate,
  by_band: bands(served),
  eval_s: served.seconds,
});

// the sequences KL is measured on: the chat prompt and the folder's greedy completion of the first items
const tokenizer = loadTokenizer(folder);
const records: EvaluatedRecord[] = readFileSync(path.join(work, "eval-folder", "results.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l));
const sequences = records.slice(0, Number(opts["kl-items"])).map((r) => {
  const chat = tokenizer.applyChatTemplate([{ role: "user", content: r.prompt }], {
    addGenerationPrompt: true,
  });
  return tokenizer.encode(chat + r.completion).slice(0, 250);
});
const V = JSON.parse(readFileSync(path.join(folder, "config.json"), "utf8")).vocab_size as number;
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
let reference: Float64Array[][] = [];

for (const dtype of ["f32", "f16", "q8_0", "q4_k_m", "q4_0"] as const) {
  const out = path.join(work, dtype);
  await exportModel({ model: folder, format: "gguf", dtype, out, quiet: true });
  const file = path.join(out, "model.gguf");
  const logProbs: Float64Array[][] = [];
  for (const tokens of sequences) logProbs.push((await llamaLogProbs(llama, file, tokens, V)).logProbs);
  if (dtype === "f32") reference = logProbs;
  const kl = reference.reduce((sum, ref, i) => sum + meanKl(ref, logProbs[i]), 0) / reference.length;
  const speed = { 1: await tokensPerSecond(file, 1), 2: await tokensPerSecond(file, 2) };
  const s = await score(`gguf:${file}`, `eval-${dtype}`);
  report({
    case: `gguf-${dtype}`,
    bytes: statSync(file).size,
    kl_per_token_vs_f32: +kl.toExponential(3),
    prompt_tok_s_1t: speed[1].prompt,
    gen_tok_s_1t: speed[1].gen,
    prompt_tok_s_2t: speed[2].prompt,
    gen_tok_s_2t: speed[2].gen,
    accuracy: s.accuracy,
    format: s.format_rate,
    by_band: bands(s),
    eval_s: s.seconds,
  });
}
await llama.dispose();
rmSync(work, { recursive: true, force: true });

/** llama.cpp on one sequence: a 128-token prompt, then 128 generated tokens, with `threads` threads. */
async function tokensPerSecond(file: string, threads: number): Promise<{ prompt: number; gen: number }> {
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({ contextSize: 512, threads });
  const sequence = context.getSequence();
  const prompt = Array.from({ length: 128 }, (_, i) => sequences[0][i % sequences[0].length]) as Token[];
  let t = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(prompt);
  const promptSeconds = (performance.now() - t) / 1000;
  await sequence.clearHistory();
  t = performance.now();
  let n = 0;
  for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) if (++n >= 128) break;
  const genSeconds = (performance.now() - t) / 1000 - promptSeconds;
  await context.dispose();
  await model.dispose();
  return { prompt: Math.round(128 / promptSeconds), gen: Math.round(n / genSeconds) };
}
