/**
 * LoRA against full fine-tuning on the same student: peak memory (max RSS) and training tokens/s, each
 * in a process of its own so one's memory never counts for the other. The student is Qwen2-shaped with
 * Qwen's 151,936-token vocabulary (hidden 768, 8 layers, 12 heads over 4 KV heads, MLP 2304, tied
 * embeddings: 172M parameters, random weights); LoRA is r 16, alpha 32 on all seven linear layers.
 * Prints one JSON line; the ratios are LoRA over full (the goal: memory < 0.5, speed ≥ 1).
 *
 *   npm run bench:lora [-- --tokens 512 --steps 3]
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decoderOptimizer, trainStep } from "../src/engine/step.ts";
import { parseModelConfig } from "../src/model/config.ts";
import { randomModel } from "../src/model/model.ts";
import { TrainableDecoder } from "../src/model/trainable.ts";
import { createAdapters, parseLoraSpec } from "../src/train/lora.ts";

const { values: opts } = parseArgs({
  options: {
    tokens: { type: "string", default: "512" },
    steps: { type: "string", default: "3" },
    mode: { type: "string" },
  },
});

const config = parseModelConfig({
  model_type: "qwen2",
  vocab_size: 151936,
  hidden_size: 768,
  intermediate_size: 2304,
  num_hidden_layers: 8,
  num_attention_heads: 12,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  max_position_embeddings: 4096,
});

/** One mode's run: a warm-up step, then `steps` timed steps on one row of random tokens. */
function runMode(mode: "full" | "lora"): { tokensPerSecond: number; maxRssMB: number } {
  const model = randomModel(config, { seed: 1 });
  const lora = mode === "lora" ? createAdapters(model, parseLoraSpec(true), 0) : undefined;
  const decoder = new TrainableDecoder(model, lora);
  const opt = decoderOptimizer(decoder, { lr: 1e-4 });
  const T = Number(opts.tokens);
  const tokens = Int32Array.from({ length: T }, (_, i) => (i * 7919) % config.vocab_size);
  const batch = { batch: 1, time: T, tokens, targets: tokens.map((t) => (t + 1) % config.vocab_size) };
  trainStep(decoder, opt, [batch]);
  const t0 = performance.now();
  for (let s = 0; s < Number(opts.steps); s++) trainStep(decoder, opt, [batch]);
  const seconds = (performance.now() - t0) / 1000;
  return {
    tokensPerSecond: Math.round((T * Number(opts.steps)) / seconds),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

if (opts.mode === "full" || opts.mode === "lora") {
  console.log(JSON.stringify(runMode(opts.mode)));
} else {
  const self = fileURLToPath(import.meta.url);
  const measure = (mode: string) => {
    process.stderr.write(`bench:lora: ${mode}…\n`);
    const args = ["--import", "tsx", self, "--mode", mode, "--tokens", opts.tokens, "--steps", opts.steps];
    const r = spawnSync(process.execPath, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${mode} run failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as ReturnType<typeof runMode>;
  };
  const full = measure("full");
  const lora = measure("lora");
  console.log(
    JSON.stringify({
      bench: "lora",
      tokens: Number(opts.tokens),
      steps: Number(opts.steps),
      full,
      lora,
      memoryRatio: Math.round((lora.maxRssMB / full.maxRssMB) * 100) / 100,
      speedRatio: Math.round((lora.tokensPerSecond / full.tokensPerSecond) * 100) / 100,
    }),
  );
}
