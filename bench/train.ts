/**
 * Training throughput of the engine on the reference workload of ../shared/bench/pytorch_baseline.py
 * (Llama-style decoder, vocab 512, d 256, 4 layers, 4 heads, SwiGLU 704, tied embeddings, context 256,
 * batch 8, AdamW, random tokens; 3,344,640 parameters), and of PyTorch on the same workload in the same
 * run: Debian's PyTorch 1.13 (/usr/bin/python3) and PyTorch 2.13 from the reference venv (.venv-ref, or
 * $DISTILLERY_REF_PYTHON), each where it is installed. Prints one JSON line; progress goes to stderr.
 *
 *   npm run bench:train [-- --warmup 3 --steps 10 --threads 2 --rounds 1]
 *   npm run bench:train -- --shape qwen2.5-0.5b|qwen3-0.6b   (a published Qwen shape: bench/trainShape.ts)
 * With --rounds N the engine and the baselines run alternately N times and the best run of each is
 * reported, so a burst of load from other jobs does not land on one side only.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Batch } from "../src/engine/batch.ts";
import { getKernels } from "../src/engine/kernels.ts";
import { decoderOptimizer, trainStep } from "../src/engine/step.ts";
import { parseModelConfig } from "../src/model/config.ts";
import { Rng } from "../src/model/rng.ts";
import { TrainableDecoder } from "../src/model/trainable.ts";

const { values: opts } = parseArgs({
  options: {
    /** default 3 (reference workload) or 1 (--shape) */
    warmup: { type: "string" },
    /** default 10 (reference workload) or 2 (--shape) */
    steps: { type: "string" },
    threads: { type: "string", default: "2" },
    /** alternate engine and baselines this many times and keep the best of each (busy machines) */
    rounds: { type: "string", default: "1" },
    "no-baseline": { type: "boolean", default: false },
    "no-passive-baseline": { type: "boolean", default: false },
    /** a published Qwen shape instead of the reference workload (bench/trainShape.ts) */
    shape: { type: "string" },
    rows: { type: "string", default: "2" },
    context: { type: "string", default: "512" },
    modes: { type: "string", default: "full,full-bf16-moments,lora,full-checkpointed" },
  },
});
if (opts.shape) {
  const { benchShape } = await import("./trainShape.ts");
  benchShape(opts.shape, {
    rows: Number(opts.rows),
    context: Number(opts.context),
    warmup: Number(opts.warmup ?? 1),
    steps: Number(opts.steps ?? 2),
    threads: Number(opts.threads),
    modes: opts.modes,
  });
  process.exit(0);
}
// PyTorch runs with the environment this process started with (the engine sets OMP_WAIT_POLICY for itself)
const startEnv = { ...process.env };
const warmup = Number(opts.warmup ?? 3);
const steps = Number(opts.steps ?? 10);
const threads = Number(opts.threads);
process.env.DISTILLERY_THREADS ??= String(threads);

const [V, D, L, H, HID, T, B] = [512, 256, 4, 4, 704, 256, 8];
const config = parseModelConfig({
  model_type: "llama",
  vocab_size: V,
  hidden_size: D,
  intermediate_size: HID,
  num_hidden_layers: L,
  num_attention_heads: H,
  num_key_value_heads: H,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  max_position_embeddings: T,
});

function randomBatch(rng: Rng): Batch {
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let prev = Math.floor(rng.next() * V);
    for (let t = 0; t < T; t++) {
      const next = Math.floor(rng.next() * V);
      tokens[b * T + t] = prev;
      targets[b * T + t] = next;
      prev = next;
    }
  }
  return { batch: B, time: T, tokens, targets };
}

function runEngine() {
  const model = TrainableDecoder.init(config, 0);
  let params = 0;
  for (const p of model.params.values()) params += p.size;
  const opt = decoderOptimizer(model, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(1);
  const data = Array.from({ length: 64 }, () => randomBatch(rng)); // 64 distinct batches, as the script
  let lossFirst = 0;
  let lossLast = 0;
  for (let i = 0; i < warmup; i++) lossFirst = trainStep(model, opt, [data[i % data.length]!]).loss;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    lossLast = trainStep(model, opt, [data[(warmup + i) % data.length]!]).loss;
    times.push((performance.now() - t0) / 1000);
    process.stderr.write(
      `engine step ${i + 1}/${steps}: ${times[i]!.toFixed(3)} s, loss ${lossLast.toFixed(4)}\n`,
    );
  }
  const total = times.reduce((a, b) => a + b, 0);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    tokS: (B * T * steps) / total,
    stepMedian: sorted[Math.floor(sorted.length / 2)]!,
    params,
    lossFirst,
    lossLast,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

interface Baseline {
  tok_s: number;
  params: number;
  peak_rss_mb: number;
  step_s_median: number;
  torch: string;
}

/**
 * The PyTorch script as its header says. extraEnv lets the bench also run it with OMP_WAIT_POLICY=passive,
 * the setting the engine uses: libgomp's default spinning collapses on a busy machine (measured 368 vs
 * 1,733 tokens/s for the same script with other jobs running), so the header's run alone can flatter
 * the engine there.
 */
function runBaseline(extraEnv: Record<string, string> = {}, py = "/usr/bin/python3"): Baseline | null {
  const script =
    process.env.DISTILLERY_BASELINE_SCRIPT ??
    fileURLToPath(new URL("../../shared/bench/pytorch_baseline.py", import.meta.url));
  if (opts["no-baseline"] || !existsSync(script) || !existsSync(py)) return null;
  if (spawnSync(py, ["-c", "import torch"], { stdio: "ignore" }).status !== 0) return null;
  const envText = Object.entries(extraEnv).map(([k, v]) => `${k}=${v} `);
  process.stderr.write(
    `baseline: ${envText.join("")}OPENBLAS_NUM_THREADS=1 ${py} ${script} ${warmup} ${steps} ${threads}\n`,
  );
  const r = spawnSync(py, [script, String(warmup), String(steps), String(threads)], {
    env: { ...startEnv, OPENBLAS_NUM_THREADS: "1", ...extraEnv },
    encoding: "utf8",
  });
  if (r.status !== 0) {
    process.stderr.write(`baseline failed: ${r.stderr}\n`);
    return null;
  }
  const line = r.stdout.trim().split("\n").pop()!;
  return JSON.parse(line) as Baseline;
}

process.stderr.write(`engine: ${getKernels().name} kernels, ${threads} threads, ${warmup}+${steps} steps\n`);
type EngineRun = ReturnType<typeof runEngine>;
let engine: EngineRun | null = null;
let base: Baseline | null = null;
let passive: Baseline | null = null;
/** PyTorch 2 from the reference venv (.ci/run makes it; or $DISTILLERY_REF_PYTHON), beside Debian's 1.13. */
const torch2Python =
  process.env.DISTILLERY_REF_PYTHON ?? fileURLToPath(new URL("../.venv-ref/bin/python", import.meta.url));
let torch2: Baseline | null = null;
const faster = <T extends { tokS?: number; tok_s?: number }>(a: T | null, b: T | null): T | null =>
  !a ? b : !b ? a : (b.tokS ?? b.tok_s ?? 0) > (a.tokS ?? a.tok_s ?? 0) ? b : a;
for (let r = 0; r < Number(opts.rounds); r++) {
  engine = faster(engine, runEngine());
  const b = runBaseline();
  base = faster(base, b);
  if (b && !opts["no-passive-baseline"])
    passive = faster(passive, runBaseline({ OMP_WAIT_POLICY: "passive" }));
  torch2 = faster(torch2, runBaseline({}, torch2Python));
}
if (!engine) throw new Error("--rounds must be at least 1");
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
console.log(
  JSON.stringify({
    engine_tok_s: round(engine.tokS),
    baseline_tok_s: base ? round(base.tok_s) : null,
    ratio: base ? round(engine.tokS / base.tok_s, 3) : null,
    params: engine.params,
    peak_rss_mb: round(engine.peakRssMb),
    baseline_peak_rss_mb: base ? round(base.peak_rss_mb) : null,
    rss_ratio: base ? round(engine.peakRssMb / base.peak_rss_mb, 3) : null,
    baseline_params: base?.params ?? null,
    baseline_passive_tok_s: passive ? round(passive.tok_s) : null,
    ratio_vs_passive: passive ? round(engine.tokS / passive.tok_s, 3) : null,
    baseline_torch2_tok_s: torch2 ? round(torch2.tok_s) : null,
    ratio_vs_torch2: torch2 ? round(engine.tokS / torch2.tok_s, 3) : null,
    baseline_torch2_peak_rss_mb: torch2 ? round(torch2.peak_rss_mb) : null,
    torch2: torch2?.torch ?? null,
    kernels: getKernels().name,
    threads,
    engine_step_s_median: round(engine.stepMedian, 4),
    baseline_step_s_median: base ? round(base.step_s_median, 4) : null,
    engine_loss_first: round(engine.lossFirst, 4),
    engine_loss_last: round(engine.lossLast, 4),
  }),
);
