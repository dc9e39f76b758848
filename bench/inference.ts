/**
 * Tokens/s of the TypeScript inference decoder (src/model/forward.ts) on ~1M and ~10M-parameter Qwen3
 * models with random weights — plain-TS matmuls ("js") and the engine's native GEMM when it is built
 * ("auto") — with llama.cpp (node-llama-cpp, CPU, same GGUF, 1 thread) as the baseline in the same run.
 * Prints one JSON line per model.
 *   npx tsx bench/inference.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { parseModelConfig } from "../src/model/config.ts";
import { Decoder } from "../src/model/forward.ts";
import { generate, generateBatch } from "../src/model/generate.ts";
import { exportGguf } from "../src/model/ggufExport.ts";
import { parameterCount, randomModel } from "../src/model/model.ts";
import { trainBpeTokenizer } from "../src/tokenizer/bpeTrainer.ts";
import { tinyCorpus } from "../test/support/tinyGguf.ts";

const sizes = {
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
};
const promptLen = 64;
const genLen = 128;
const dir = mkdtempSync(join(tmpdir(), "distill-bench-"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });

for (const [label, s] of Object.entries(sizes)) {
  const { vocab, ...dims } = s;
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
  const ts: Record<string, { prefill: number; decode: number; generated: number; batch16: number }> = {};
  for (const kernels of ["js", "auto"] as const) {
    const decoder = new Decoder(model, { kernels });
    decoder.logits(prompt.slice(0, 8)); // warm up the JIT
    const t0 = performance.now();
    decoder.forward(prompt, decoder.newCache(promptLen));
    const prefill = promptLen / ((performance.now() - t0) / 1000);
    const t1 = performance.now();
    const out = generate(decoder, prompt, { maxTokens: genLen });
    const decode = out.tokens.length / ((performance.now() - t1) / 1000);
    // Evaluation-style throughput: 16 prompts decoded together (prefill included), tokens generated per s.
    const prompts = Array.from({ length: 16 }, (_, i) => prompt.slice(i, i + 32));
    const t2 = performance.now();
    const outs = generateBatch(decoder, prompts, { maxTokens: 64, batchSize: 16 });
    const batch16 = outs.reduce((a, o) => a + o.tokens.length, 0) / ((performance.now() - t2) / 1000);
    ts[kernels] = { prefill, decode, generated: out.tokens.length, batch16 };
  }

  // llama.cpp on the same weights; the tokenizer only needs ids < vocab, so pad names fill the rest.
  const path = join(dir, `${label}.gguf`);
  exportGguf(path, model, tokenizer);
  const m = await llama.loadModel({ modelPath: path });
  const ctx = await m.createContext({ contextSize: 512, threads: 1, flashAttention: false });
  const seq = ctx.getSequence();
  let t = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt as Token[]);
  const llamaPrefill = promptLen / ((performance.now() - t) / 1000);
  await seq.clearHistory();
  t = performance.now();
  let n = 0;
  for await (const _ of seq.evaluate(prompt as Token[], { temperature: 0 })) if (++n >= genLen) break;
  const llamaTotal = (performance.now() - t) / 1000;
  const llamaDecode = n / (llamaTotal - promptLen / llamaPrefill);
  await m.dispose();
  const r = (x: number) => Math.round(x);
  console.log(
    JSON.stringify({
      model: label,
      params: parameterCount(model),
      prompt_tokens: promptLen,
      generated: ts.js.generated,
      ts_js_prefill_tok_s: r(ts.js.prefill),
      ts_js_decode_tok_s: r(ts.js.decode),
      ts_auto_prefill_tok_s: r(ts.auto.prefill),
      ts_auto_decode_tok_s: r(ts.auto.decode),
      ts_js_batch16_gen_tok_s: r(ts.js.batch16),
      ts_auto_batch16_gen_tok_s: r(ts.auto.batch16),
      llamacpp_prefill_tok_s: r(llamaPrefill),
      llamacpp_decode_tok_s: r(llamaDecode),
      decode_ratio_auto_vs_llamacpp: +(ts.auto.decode / llamaDecode).toFixed(3),
    }),
  );
}
await llama.dispose();
rmSync(dir, { recursive: true, force: true });
