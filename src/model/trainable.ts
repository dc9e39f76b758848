/**
 * The trainable Qwen2 / Qwen3 / Llama decoder built from the engine's ops. Parameters are the Hugging
 * Face tensors of a `Model` (src/model/model.ts) by HF name and in HF layout; the decoder wraps the
 * same Float32Arrays, so an optimizer step updates `model.params` in place and src/model can save it.
 *
 *   x = embed(tokens)                                   (B*T, C)
 *   per layer: x = x + o_proj(attn(rope(norm_qk(qkv(rmsnorm(x))))))
 *              x = x + down(silu(gate(h)) * up(h)),  h = rmsnorm(x)
 *   logits = rmsnorm(x) · lm_headᵀ   (lm_head = embed_tokens when tied)   (B*T, V)
 */
import { type ModelConfig, type ModelDims, modelDims, parameterShapes } from "../model/config.ts";
import type { Model } from "../model/model.ts";
import { Rng } from "../model/rng.ts";
import { Tape, Tensor } from "./autograd.ts";
import { linearCrossEntropy } from "./loss.ts";
import {
  add,
  attention,
  biasAdd,
  embedding,
  linear,
  type RopeTable,
  rmsnorm,
  rope,
  ropeTable,
  swiglu,
} from "./ops.ts";

/** B sequences of T tokens, flattened row-major to B*T. */
export interface Batch {
  batch: number;
  time: number;
  /** Input token ids [B*T]. */
  tokens: Int32Array;
  /** Next-token targets [B*T] (ignored where the weight is 0). */
  targets: Int32Array;
  /** Loss weight per target [B*T]: 0 masks a position (prompt, padding); default all 1. */
  weights?: Float32Array;
  /** Document id per token [B*T] for packed sequences: attention never crosses ids; default one per row. */
  segments?: Int32Array;
  /** RoPE positions [B*T]; default counts from 0 at the start of each row and each new segment. */
  positions?: Int32Array;
}

/** Fresh parameters for training from scratch: N(0, std²) matrices, ones for norms, zeros for biases. */
export function initParams(config: ModelConfig, seed: number, std = 0.02): Model {
  const rng = new Rng(seed);
  const params = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith("norm.weight")) data.fill(1);
    else if (!name.endsWith(".bias")) for (let i = 0; i < data.length; i++) data[i] = std * rng.normal();
    params.set(name, { shape, data });
  }
  return { config, params };
}

/** Default RoPE positions: 0, 1, 2… restarting at each row start and each segment change. */
export function defaultPositions(batch: number, time: number, segments?: Int32Array): Int32Array {
  const pos = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < time; t++) {
      const i = b * time + t;
      pos[i] = t === 0 || (segments && segments[i] !== segments[i - 1]) ? 0 : pos[i - 1]! + 1;
    }
  return pos;
}

export class TrainableDecoder {
  readonly dims: ModelDims;
  /** Engine tensors over the model's own arrays, keyed by HF name. */
  readonly params = new Map<string, Tensor>();
  private rope: RopeTable | null = null;

  constructor(readonly model: Model) {
    this.dims = modelDims(model.config);
    for (const [name, shape] of parameterShapes(model.config)) {
      const t = model.params.get(name);
      if (!t) throw new Error(`model has no tensor "${name}"`);
      if (t.data.length !== shape.reduce((a, b) => a * b, 1))
        throw new Error(`tensor "${name}" has the wrong size`);
      this.params.set(name, new Tensor(t.data, shape, true));
    }
  }

  /** A new model from config with seeded random weights. */
  static init(config: ModelConfig, seed: number): TrainableDecoder {
    return new TrainableDecoder(initParams(config, seed));
  }

  private p(name: string): Tensor {
    return this.params.get(name)!;
  }

  private ropeFor(maxPos: number): RopeTable {
    if (!this.rope || this.rope.maxPos < maxPos) {
      const size = Math.max(maxPos, Math.min(this.model.config.max_position_embeddings, 4096));
      this.rope = ropeTable(size, this.dims.headDim, this.dims.ropeTheta);
    }
    return this.rope;
  }

  /** Logits (B*T, V) on tape g. */
  forwardLogits(g: Tape, batch: Omit<Batch, "targets" | "weights">): Tensor {
    return linear(g, this.forwardHidden(g, batch), this.p(this.headName()));
  }

  private headName(): string {
    return this.model.config.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }

  /** Final normalised hidden states (B*T, C) on tape g: everything before the LM head. */
  forwardHidden(g: Tape, batch: Omit<Batch, "targets" | "weights">): Tensor {
    const d = this.dims;
    const { batch: B, time: T, tokens } = batch;
    if (tokens.length !== B * T) throw new Error(`forward: ${tokens.length} tokens for batch ${B}×${T}`);
    const seg = batch.segments ?? defaultSegments(B, T);
    const pos = batch.positions ?? defaultPositions(B, T, batch.segments);
    let maxPos = 0;
    for (const p of pos) if (p > maxPos) maxPos = p;
    const table = this.ropeFor(maxPos + 1);
    const shape = { batch: B, time: T, heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, seg };

    let x = embedding(g, this.p("model.embed_tokens.weight"), tokens); // (B*T, C)
    for (let l = 0; l < d.layers; l++) {
      const n = `model.layers.${l}`;
      const h = rmsnorm(g, x, this.p(`${n}.input_layernorm.weight`), d.eps);
      let q = this.project(g, h, `${n}.self_attn.q_proj`); // (B*T, H*D)
      let k = this.project(g, h, `${n}.self_attn.k_proj`); // (B*T, KVH*D)
      const v = this.project(g, h, `${n}.self_attn.v_proj`);
      if (d.arch.qkNorm) {
        q = rmsnorm(g, q, this.p(`${n}.self_attn.q_norm.weight`), d.eps); // per head, before RoPE
        k = rmsnorm(g, k, this.p(`${n}.self_attn.k_norm.weight`), d.eps);
      }
      q = rope(g, q, table, pos);
      k = rope(g, k, table, pos);
      const a = attention(g, q, k, v, shape); // (B*T, H*D)
      x = add(g, x, linear(g, a, this.p(`${n}.self_attn.o_proj.weight`)));
      const h2 = rmsnorm(g, x, this.p(`${n}.post_attention_layernorm.weight`), d.eps);
      const gate = linear(g, h2, this.p(`${n}.mlp.gate_proj.weight`)); // (B*T, F)
      const up = linear(g, h2, this.p(`${n}.mlp.up_proj.weight`));
      x = add(g, x, linear(g, swiglu(g, gate, up), this.p(`${n}.mlp.down_proj.weight`)));
    }
    return rmsnorm(g, x, this.p("model.norm.weight"), d.eps);
  }

  private project(g: Tape, h: Tensor, prefix: string): Tensor {
    const y = linear(g, h, this.p(`${prefix}.weight`));
    return this.dims.qkvBias ? biasAdd(g, y, this.p(`${prefix}.bias`)) : y;
  }

  /** Masked mean cross-entropy of a batch as a scalar on tape g (normalizer: see ops.crossEntropy). */
  forwardLoss(g: Tape, batch: Batch, normalizer?: number): Tensor {
    const weights = batch.weights ?? new Float32Array(batch.tokens.length).fill(1);
    // the head fused with the loss: no (B*T, V) logits, masked rows skipped (loss.ts)
    const hidden = this.forwardHidden(g, batch);
    return linearCrossEntropy(g, hidden, this.p(this.headName()), batch.targets, weights, normalizer);
  }

  /** Forward + backward of one (micro-)batch; gradients ADD into the parameters' grads. Returns the loss. */
  lossAndGrad(batch: Batch, normalizer?: number): number {
    const g = new Tape();
    const loss = this.forwardLoss(g, batch, normalizer);
    const value = loss.data[0]!;
    // a micro-batch whose targets are all masked has no gradient to give
    if (loss.requiresGrad) g.backward(loss);
    else g.clear();
    return value;
  }

  /** Loss without gradients (validation). */
  loss(batch: Batch): number {
    return this.forwardLoss(new Tape(false), batch).data[0]!;
  }

  /** Logits (B*T, V) for inference, no tape. */
  logits(batch: Omit<Batch, "targets" | "weights">): Float32Array {
    return this.forwardLogits(new Tape(false), batch).data;
  }
}

function defaultSegments(batch: number, time: number): Int32Array {
  const seg = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) seg.fill(b, b * time, b * time + time);
  return seg;
}
