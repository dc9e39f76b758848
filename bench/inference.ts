/**
 * Tokens/s of the TypeScript inference decoder (src/model/forward.ts) on ~1M and ~10M-parameter Qwen3
 * models and the published Qwen2.5-0.5B shape, with random weights — plain-TS matmuls ("js") and the
 * engine's native GEMM when it is built ("auto"; the 0.5B shape runs only this, on 32 generated tokens
 * and without the 16-prompt batch) — with llama.cpp (node-llama-cpp, CPU, same F32 GGUF, 1 thread) as
 * the baseline in the same run, both on the same number of threads (default 1). Prints one JSON line per model.
 *   npx tsx bench/inference.ts [--sizes 1M,10M,qwen2.5-0.5b] [--threads 1]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { parseModelConfig } from "../src/model/config.ts";
import { Decoder } from "../src/model/forward.ts";
import { argmax, generateBatch } from "../src/model/generate.ts";
import { exportGguf } from "../src/model/ggufExport.ts";
import { parameterCount, randomModel } from "../src/model/model.ts";
import { trainBpeTokenizer } from "../src/tokenizer/bpeTrainer.ts";
import { tinyCorpus } from "../test/support/tinyGguf.ts";

const sizes: Record<string, Record<string, number | string | boolean>> = {
  "1M": {
    hidden_size: 128,
    intermediate_size: 384,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    vocab: 1024,
  },
  "10M": {
    hidden_size: 384,
    intermediate_size: 1024,
    num_hidden_layers: 5,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    head_dim: 64,
    vocab: 4096,
  },
  "qwen2.5-0.5b": {
    model_type: "qwen2",
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    head_dim: 64,
    vocab: 151936,
    large: true,
  },
};
const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: Object.keys(sizes).join(",") },
    threads: { type: "string", default: "1" },
  },
});
const threads = Number(args.threads);
if (!(Number.isInteger(threads) && threads > 0)) throw new Error(`--threads must be a positive integer`);
process.env.DISTILLERY_THREADS = String(threads); // read when the native kernels load, on first use
const promptLen = 64;
const genLen = 128;
const dir = mkdtempSync(join(tmpdir(), "distill-bench-"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });

for (const label of args.sizes.split(",")) {
  if (!sizes[label]) throw new Error(`unknown size ${label} (${Object.keys(sizes).join(", ")})`);
  const { vocab, large, ...dims } = sizes[label];
  const generated = large ? 32 : genLen;
  const tokenizer = trainBpeTokenizer(tinyCorpus(3000), { vocabSize: 512 });
  const config = parseModelConfig({
    model_type: "qwen3",
    vocab_size: vocab,
    ...dims,
    rms_norm_eps: 1e-6,
    rope_theta: 1e6,
    tie_word_embeddings: true,
    max_position_embeddings: 1024,
    eos_token_id: 507,
  });
  const model = randomModel(config, { seed: 1, std: 0.1 });
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 31 + 7) % 500);
  const ts: Record<string, { prefill: number; decode: number; batch16?: number }> = {};
  for (const kernels of large ? (["auto"] as const) : (["js", "auto"] as const)) {
    const decoder = new Decoder(model, { kernels });
    decoder.logits(prompt.slice(0, 8)); // warm up the JIT
    let prefillSeconds = Number.POSITIVE_INFINITY; // best of 2 (large: 1)
    for (let rep = 0; rep < (large ? 1 : 2); rep++) {
      const t0 = performance.now();
      decoder.forward(prompt, decoder.newCache(promptLen));
      prefillSeconds = Math.min(prefillSeconds, (performance.now() - t0) / 1000);
    }
    // decode: the prompt but its last token is in the cache untimed, then `generated` one-token steps
    // (the first feeds the prompt's last token), greedy — the same steps llama.cpp is timed on below
    const cache = decoder.newCache(promptLen + generated);
    decoder.forward(prompt.slice(0, -1), cache);
    let next = prompt[promptLen - 1];
    const t1 = performance.now();
    for (let i = 0; i < generated; i++) next = argmax(decoder.forward([next], cache));
    const decode = generated / ((performance.now() - t1) / 1000);
    ts[kernels] = { prefill: promptLen / prefillSeconds, decode };
    if (large) continue;
    // Evaluation-style throughput: 16 prompts decoded together (prefill included), tokens generated per s.
    const prompts = Array.from({ length: 16 }, (_, i) => prompt.slice(i, i + 32));
    const t2 = performance.now();
    const outs = generateBatch(decoder, prompts, { maxTokens: 64, batchSize: 16 });
    ts[kernels].batch16 = outs.reduce((a, o) => a + o.tokens.length, 0) / ((performance.now() - t2) / 1000);
  }

  // llama.cpp on the same weights; the tokenizer only needs ids < vocab, so pad names fill the rest.
  const path = join(dir, `${label}.gguf`);
  exportGguf(path, model, tokenizer);
  const m = await llama.loadModel({ modelPath: path });
  const ctx = await m.createContext({ contextSize: 512, threads, flashAttention: false });
  const seq = ctx.getSequence();
  let t = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt as Token[]);
  const llamaPrefill = promptLen / ((performance.now() - t) / 1000);
  await seq.clearHistory();
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1) as Token[]);
  t = performance.now();
  let n = 0;
  for await (const _ of seq.evaluate([prompt[promptLen - 1]] as Token[], { temperature: 0 }))
    if (++n >= generated) break;
  const llamaDecode = n / ((performance.now() - t) / 1000);
  await m.dispose();
  const r = (x: number | undefined) => (x === undefined ? null : Math.round(x));
  console.log(
    JSON.stringify({
      model: label,
      threads,
      params: parameterCount(model),
      prompt_tokens: promptLen,
      generated,
      ts_js_prefill_tok_s: r(ts.js?.prefill),
      ts_js_decode_tok_s: r(ts.js?.decode),
      ts_auto_prefill_tok_s: r(ts.auto.prefill),
      ts_auto_decode_tok_s: r(ts.auto.decode),
      ts_js_batch16_gen_tok_s: r(ts.js?.batch16),
      ts_auto_batch16_gen_tok_s: r(ts.auto.batch16),
      llamacpp_prefill_tok_s: r(llamaPrefill),
      llamacpp_decode_tok_s: r(llamaDecode),
      decode_ratio_auto_vs_llamacpp: +(ts.auto.decode / llamaDecode).toFixed(3),
    }),
  );
}
await llama.dispose();
rmSync(dir, { recursive: true, force: true });
