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
import { Tape, Tensor } from "../engine/autograd.ts";
import { type Batch, defaultPositions, defaultSegments } from "../engine/batch.ts";
import { checkpointed } from "../engine/checkpoint.ts";
import type { DistillSettings } from "../engine/distill.ts";
import type { LoraAdapters } from "../engine/lora.ts";
import { linearCrossEntropy, linearDistillLoss } from "../engine/loss.ts";
import {
  type AttentionShape,
  add,
  attention,
  biasAdd,
  embedding,
  linear,
  type RopeTable,
  rmsnorm,
  rope,
  swiglu,
} from "../engine/ops.ts";
import { type ModelConfig, type ModelDims, modelDims, parameterShapes } from "./config.ts";
import type { Model } from "./model.ts";
import { Rng } from "./rng.ts";
import { RopeTables } from "./rope.ts";

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

export class TrainableDecoder {
  readonly dims: ModelDims;
  /** Engine tensors over the model's own arrays, keyed by HF name. */
  readonly params = new Map<string, Tensor>();
  /**
   * How many layers, from the first, recompute their activations in backward instead of keeping them
   * (checkpoint.ts): each saves its activations but its input for one more forward of the layer. The
   * first layers, because they are recomputed last, when the layers above have freed theirs.
   */
  checkpointedLayers = 0;
  /** How batches that carry the teacher's distributions are learned from (`--kd topk`); unset: CE only. */
  distill?: DistillSettings;
  private readonly rope: RopeTables;

  /**
   * `lora`: adapters on a frozen base. The HF weights then take no gradient (no dW work, no optimizer
   * state) and `params` also holds each adapter's A and B as `<module>.lora_A.weight` / `.lora_B.weight`.
   */
  constructor(
    readonly model: Model,
    readonly lora?: LoraAdapters,
  ) {
    this.dims = modelDims(model.config);
    for (const [name, shape] of parameterShapes(model.config)) {
      const t = model.params.get(name);
      if (!t) throw new Error(`model has no tensor "${name}"`);
      if (t.data.length !== shape.reduce((a, b) => a * b, 1))
        throw new Error(`tensor "${name}" has the wrong size`);
      this.params.set(name, new Tensor(t.data, shape, !lora));
    }
    for (const [name, t] of lora?.tensors() ?? []) this.params.set(name, t);
    this.rope = new RopeTables(this.dims.rope, this.dims.headDim, model.config.max_position_embeddings);
  }

  /** A new model from config with seeded random weights. */
  static init(config: ModelConfig, seed: number): TrainableDecoder {
    return new TrainableDecoder(initParams(config, seed));
  }

  private p(name: string): Tensor {
    return this.params.get(name)!;
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
    const table = this.rope.covering(maxPos + 1);
    const shape = { batch: B, time: T, heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, seg };

    let x = embedding(g, this.p("model.embed_tokens.weight"), tokens); // (B*T, C)
    for (let l = 0; l < d.layers; l++) {
      const seed = this.lora?.layerSeed() ?? 0;
      const layer = (tape: Tape, input: Tensor) => {
        this.lora?.useLayerSeed(seed);
        return this.layerForward(tape, input, l, table, pos, shape);
      };
      x = l < this.checkpointedLayers ? checkpointed(g, x, layer) : layer(g, x);
    }
    return rmsnorm(g, x, this.p("model.norm.weight"), d.eps);
  }

  /** Decoder layer l on x (B*T, C): attention then MLP, each a pre-norm residual branch. */
  private layerForward(
    g: Tape,
    x: Tensor,
    l: number,
    table: RopeTable,
    pos: Int32Array,
    shape: AttentionShape,
  ): Tensor {
    const d = this.dims;
    const n = `model.layers.${l}`;
    const h = rmsnorm(g, x, this.p(`${n}.input_layernorm.weight`), d.eps);
    let q = this.project(g, h, `${n}.self_attn.q_proj`); // (B*T, H*D)
    let k = this.project(g, h, `${n}.self_attn.k_proj`); // (B*T, KVH*D)
    const v = this.project(g, h, `${n}.self_attn.v_proj`);
    if (d.arch.qkNorm) {
      q = rmsnorm(g, q, this.p(`${n}.self_attn.q_norm.weight`), d.eps); // per head, before RoPE
      k = rmsnorm(g, k, this.p(`${n}.self_attn.k_norm.weight`), d.eps);
    }
    const [qr, kr] = [rope(g, q, table, pos), rope(g, k, table, pos)];
    // what only RoPE, a bias add or a residual add reads is freed once read: their backward needs only
    // the output's gradient (a fifth of a Qwen2.5 layer's activations)
    g.free(q, k);
    const a = attention(g, qr, kr, v, shape); // (B*T, H*D)
    const o = this.adapted(g, a, `${n}.self_attn.o_proj`);
    x = add(g, x, o);
    g.free(o);
    const h2 = rmsnorm(g, x, this.p(`${n}.post_attention_layernorm.weight`), d.eps);
    const gate = this.adapted(g, h2, `${n}.mlp.gate_proj`); // (B*T, F)
    const up = this.adapted(g, h2, `${n}.mlp.up_proj`);
    const down = this.adapted(g, swiglu(g, gate, up), `${n}.mlp.down_proj`);
    const out = add(g, x, down);
    g.free(down);
    return out;
  }

  /** x · Wᵀ of module `prefix`, plus its LoRA adapter's scale · (x · Aᵀ) · Bᵀ when it has one. */
  private adapted(g: Tape, x: Tensor, prefix: string): Tensor {
    const w = this.p(`${prefix}.weight`);
    return this.lora ? this.lora.linear(g, prefix, x, w) : linear(g, x, w);
  }

  private project(g: Tape, h: Tensor, prefix: string): Tensor {
    const y = this.adapted(g, h, prefix);
    if (!this.dims.qkvBias) return y;
    const biased = biasAdd(g, y, this.p(`${prefix}.bias`));
    g.free(y);
    return biased;
  }

  /**
   * Masked mean cross-entropy of a batch as a scalar on tape g (normalizer: see ops.crossEntropy); with
   * `distill` set and a batch carrying the teacher's distributions, the distillation loss instead.
   * `gradInForward`: the head's gradients are taken in this pass (loss.ts); only when backward starts
   * from the returned loss right away, as lossAndGrad does.
   */
  forwardLoss(g: Tape, batch: Batch, normalizer?: number, gradInForward = false): Tensor {
    const weights = batch.weights ?? new Float32Array(batch.tokens.length).fill(1);
    // the head fused with the loss: no (B*T, V) logits, masked rows skipped (loss.ts)
    const hidden = this.forwardHidden(g, batch);
    const head = this.p(this.headName());
    if (this.distill && batch.teacher)
      return linearDistillLoss(g, hidden, head, batch.targets, weights, batch.teacher, this.distill, {
        normalizer,
        gradInForward,
      });
    return linearCrossEntropy(g, hidden, head, batch.targets, weights, { normalizer, gradInForward });
  }

  /** Forward + backward of one (micro-)batch; gradients ADD into the parameters' grads. Returns the loss. */
  lossAndGrad(batch: Batch, normalizer?: number): number {
    const g = new Tape();
    const loss = this.forwardLoss(g, batch, normalizer, true);
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
