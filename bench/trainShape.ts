/**
 * Fine-tuning a student at a real Qwen shape, the engine against PyTorch + transformers on the same
 * assistant-masked batch, full fine-tuning and LoRA, each run in a process of its own so each peak
 * memory (max RSS) is its own. `npm run bench:train -- --shape qwen2.5-0.5b` (or `qwen3-0.6b`).
 *
 * The student is a checkpoint transformers writes itself (test/reference/make_checkpoint.py: the
 * published config, random weights, the real Qwen tokenizer), float32 on both sides. The batch is
 * `--rows` chats of the distillation template, tokenized as distill train tokenizes them and cut to
 * `--context` tokens; the loss is on the assistant's tokens only. PyTorch 2.13 runs transformers'
 * model with SDPA attention and 2 threads (bench/pytorch_train.py), LoRA through peft; both use AdamW
 * with gradient clipping. The reference Python comes from .ci/run's venv (.venv-ref, or
 * $DISTILLERY_REF_PYTHON). Prints one JSON line; progress goes to stderr.
 *
 *   npm run bench:train -- --shape qwen2.5-0.5b [--rows 2 --context 512 --warmup 1 --steps 2
 *     --modes full,lora,full-bf16-moments,full-checkpointed --threads 2]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Batch } from "../src/engine/batch.ts";
import { trainStep } from "../src/engine/step.ts";
import { loadModelFolder } from "../src/model/hfFolder.ts";
import { TrainableDecoder } from "../src/model/trainable.ts";
import { loadTokenizer } from "../src/tokenizer/tokenizer.ts";
import { tokenizeConversation } from "../src/train/data.ts";
import { createAdapters, parseLoraSpec } from "../src/train/lora.ts";
import { studentOptimizer } from "../src/train/student.ts";
import { referencePython, transformersCheckpoint } from "../test/reference/reference.ts";

/** The published shapes, by the name --shape takes. */
const shapes = {
  "qwen2.5-0.5b": { arch: "qwen2", layers: 24 },
  "qwen3-0.6b": { arch: "qwen3", layers: 28 },
} as const;
export type ShapeName = keyof typeof shapes;
export const shapeNames = Object.keys(shapes) as ShapeName[];

/**
 * full, lora, full-bf16-moments (AdamW's moments in bfloat16, as `distill train --optimizer-state
 * bfloat16`), full-checkpointed (every layer recomputed in backward) or full-checkpointed:N (the first
 * N, as `--checkpoint-activations N`). Every full mode is held against PyTorch's full fine-tuning
 * (torch.optim.AdamW, float32 moments).
 */
type Mode = string;
const modePattern = /^(full|lora|full-bf16-moments|full-checkpointed(:\d+)?)$/;
const modeNames = "full, lora, full-bf16-moments, full-checkpointed, full-checkpointed:<layers>";

/** Layers a mode recomputes, of a model of `layers`. */
function modeCheckpointedLayers(mode: Mode, layers: number): number {
  if (mode === "full-checkpointed") return layers;
  const n = mode.match(/^full-checkpointed:(\d+)$/)?.[1];
  return n === undefined ? 0 : Math.min(layers, Number(n));
}
const loraTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** The batch both sides train on: B rows of T tokens, labels as transformers takes them (-100: no loss). */
interface Job {
  model: string;
  tokens: number[][];
  labels: number[][];
  warmup: number;
  steps: number;
  threads: number;
  lr: number;
}

/** One side's measurement of one mode. */
interface Measured {
  tok_s: number;
  step_s: number;
  peak_rss_mb: number;
  loss_first: number;
  loss_last: number;
  trainable: number;
}

/** A chat in the distillation template whose answer is long enough to fill `context` tokens. */
function longChat(i: number, context: number) {
  const steps: string[] = [];
  for (let k = 1; steps.join("\n").length < context * 6; k++)
    steps.push(
      `Step ${k}: ${3 * k + i}x + ${k} = ${7 * k}, so ${3 * k + i}x = ${6 * k} and x = ${6 * k}/${3 * k + i}.`,
    );
  return [
    { role: "user", content: `Solve for x: ${i + 3}x + ${i} = ${4 * i + 9}` },
    { role: "assistant", content: `<think>\n${steps.join("\n")}\n</think>\n<answer>x = 3</answer>` },
  ];
}

function makeJob(
  model: string,
  o: { rows: number; context: number; warmup: number; steps: number; threads: number },
): Job {
  const tokenizer = loadTokenizer(model);
  const tokens: number[][] = [];
  const labels: number[][] = [];
  for (let i = 0; i < o.rows; i++) {
    const { ids, mask } = tokenizeConversation(longChat(i, o.context), tokenizer);
    if (ids.length < o.context)
      throw new Error(`chat ${i} has ${ids.length} tokens, fewer than ${o.context}`);
    tokens.push([...ids.subarray(0, o.context)]);
    labels.push(tokens[i]!.map((id, t) => (mask[t] ? id : -100)));
  }
  return { model, tokens, labels, warmup: o.warmup, steps: o.steps, threads: o.threads, lr: 1e-5 };
}

/** The job's rows as the engine's batch: target t is token t+1, weighted by whether it carries loss. */
function engineBatch(job: Job): Batch {
  const [B, T] = [job.tokens.length, job.tokens[0]!.length];
  const tokens = Int32Array.from(job.tokens.flat());
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t + 1 < T; t++) {
      targets[b * T + t] = job.tokens[b]![t + 1]!;
      weights[b * T + t] = job.labels[b]![t + 1]! === -100 ? 0 : 1;
    }
  return { batch: B, time: T, tokens, targets, weights };
}

/** The engine's side of one mode, in this (child) process. */
function runEngine(job: Job, mode: Mode): Measured {
  const model = loadModelFolder(job.model);
  const lora = mode === "lora" ? createAdapters(model, parseLoraSpec(true), 0) : undefined;
  const decoder = new TrainableDecoder(model, lora);
  decoder.checkpointedLayers = modeCheckpointedLayers(mode, model.config.num_hidden_layers);
  const optimizerState = mode === "full-bf16-moments" ? "bfloat16" : "float32";
  const opt = studentOptimizer(decoder.params, { weightDecay: 0.1, optimizerState }, job.lr);
  let trainable = 0;
  for (const p of decoder.params.values()) if (p.requiresGrad) trainable += p.size;
  const batch = engineBatch(job);
  const losses: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < job.warmup + job.steps; i++) {
    const t0 = performance.now();
    losses.push(trainStep(decoder, opt, [batch], 1).loss);
    const s = (performance.now() - t0) / 1000;
    if (i >= job.warmup) times.push(s);
    process.stderr.write(
      `engine ${mode} step ${i + 1}: ${s.toFixed(1)} s, loss ${losses.at(-1)!.toFixed(4)}\n`,
    );
  }
  const seconds = times.reduce((a, b) => a + b, 0);
  return {
    tok_s: (batch.batch * batch.time * times.length) / seconds,
    step_s: seconds / times.length,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    loss_first: losses[0]!,
    loss_last: losses.at(-1)!,
    trainable,
  };
}

/** PyTorch's side of full fine-tuning or LoRA. */
function runPytorch(jobFile: string, mode: "full" | "lora"): Measured & { torch: string; attn: string } {
  const job = {
    ...JSON.parse(readFileSync(jobFile, "utf8")),
    mode,
    lora: { r: 16, alpha: 32, targets: loraTargets },
  };
  const script = fileURLToPath(new URL("pytorch_train.py", import.meta.url));
  const r = spawnSync(referencePython(), [script], {
    input: JSON.stringify(job),
    encoding: "utf8",
    stdio: ["pipe", "pipe", "inherit"],
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`pytorch_train.py (${mode}) exited ${r.status}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

function runEngineChild(jobFile: string, mode: Mode, threads: number): Measured {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--child", mode, jobFile],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, DISTILLERY_THREADS: String(threads) },
    },
  );
  if (r.status !== 0) throw new Error(`engine ${mode} exited ${r.status}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** The whole comparison; prints one JSON line. */
export function benchShape(
  shape: string,
  o: { rows: number; context: number; warmup: number; steps: number; threads: number; modes: string },
): void {
  if (!(shape in shapes)) throw new Error(`--shape ${shape}: known shapes are ${shapeNames.join(", ")}`);
  const wanted = o.modes.split(",");
  for (const m of wanted)
    if (!modePattern.test(m)) throw new Error(`--modes ${m}: known modes are ${modeNames}`);
  process.stderr.write(`bench:train --shape ${shape}: writing the checkpoint with transformers (cached)…\n`);
  const dir = transformersCheckpoint(shapes[shape as ShapeName]);
  const scratch = mkdtempSync(join(tmpdir(), "distill-bench-shape-"));
  try {
    const jobFile = join(scratch, "job.json");
    const job = makeJob(dir, o);
    writeFileSync(jobFile, JSON.stringify(job));
    const trained = job.labels.flat().filter((l) => l !== -100).length;
    const results: Record<string, unknown> = {};
    // PyTorch runs full fine-tuning once, for every full mode of the engine
    const baselines = new Map<string, ReturnType<typeof runPytorch>>();
    const baseline = (m: "full" | "lora") => {
      if (!baselines.has(m)) baselines.set(m, runPytorch(jobFile, m));
      return baselines.get(m)!;
    };
    for (const mode of wanted) {
      const engine = runEngineChild(jobFile, mode, o.threads);
      const pytorch = baseline(mode === "lora" ? "lora" : "full");
      results[mode] = {
        engine: { ...engine, tok_s: round(engine.tok_s), peak_rss_mb: round(engine.peak_rss_mb, 0) },
        pytorch: { ...pytorch, tok_s: round(pytorch.tok_s), peak_rss_mb: round(pytorch.peak_rss_mb, 0) },
        speed_ratio: round(engine.tok_s / pytorch.tok_s, 3),
        memory_ratio: round(engine.peak_rss_mb / pytorch.peak_rss_mb, 3),
      };
    }
    const mem = (m: string) => (results[m] as { engine: Measured } | undefined)?.engine.peak_rss_mb;
    console.log(
      JSON.stringify({
        bench: "train-shape",
        shape,
        rows: o.rows,
        context: o.context,
        tokens_per_step: o.rows * o.context,
        tokens_with_loss: trained,
        threads: o.threads,
        warmup: o.warmup,
        steps: o.steps,
        ...results,
        lora_over_full_memory: mem("lora") && mem("full") ? round(mem("lora")! / mem("full")!, 3) : null,
      }),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// `--child <mode> <job.json>`: one engine measurement in a process of its own.
if (process.argv[2] === "--child") {
  const job = JSON.parse(readFileSync(process.argv[4]!, "utf8")) as Job;
  console.log(JSON.stringify(runEngine(job, process.argv[3] as Mode)));
}
