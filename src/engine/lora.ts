/**
 * A linear layer with a LoRA adapter (Hu et al. 2021; PEFT's `lora.Linear`), as one op:
 *
 *   y = x · Wᵀ + scale · (drop(x) · Aᵀ) · Bᵀ      x (m, in), W (out, in), A (r, in), B (out, r) → (m, out)
 *
 * One op with its own backward, so nothing of size (out, in) is ever formed (the adapter's work is
 * O(m·r·(in + out))), a frozen W gets no gradient at all, and the tape keeps one (m, out) output
 * where a linear, a delta and their sum would keep three — a third of a LoRA step's activations.
 */

import { hashSeed, seededRandom } from "../util/random.ts";
import { allocBuffer, releaseBuffer, type Tape, Tensor } from "./autograd.ts";
import { getKernels } from "./kernels.ts";
import { linear } from "./ops.ts";

/** One adapted module: A (r, in), B (out, r) and scale = alpha / r. */
export interface LoraPair {
  A: Tensor;
  B: Tensor;
  scale: number;
}

/**
 * x · Wᵀ + scale · (x ⊙ keep) · Aᵀ · Bᵀ. `keep` (m·in, optional) is a dropout mask already divided by
 * (1 − p), like torch's inverted dropout; absent, no dropout.
 */
export function loraLinear(g: Tape, x: Tensor, w: Tensor, pair: LoraPair, keep?: Float32Array): Tensor {
  const K = getKernels();
  const { A, B, scale } = pair;
  const [r, inF] = [A.shape[0]!, A.shape[1]!];
  const outF = B.shape[0]!;
  if (B.shape[1] !== r) throw new Error(`loraLinear: B has ${B.shape[1]} columns, A has rank ${r}`);
  if (w.size !== outF * inF) throw new Error(`loraLinear: W is not (${outF}, ${inF}) like its adapter`);
  const m = x.size / inF;
  if (!Number.isInteger(m)) throw new Error(`loraLinear: ${x.size} inputs are not rows of ${inF}`);
  if (keep && keep.length !== x.size) throw new Error("loraLinear: dropout mask size differs from x");

  let xd = x.data;
  if (keep) {
    xd = allocBuffer(x.size, false);
    for (let i = 0; i < xd.length; i++) xd[i] = x.data[i]! * keep[i]!;
  }
  // out (m, out) = x · Wᵀ ; u (m, r) = scale · xd · Aᵀ ; out += u · Bᵀ
  const out = Tensor.empty([m, outF]);
  K.gemm(m, outF, inF, x.data, 0, inF, 1, w.data, 0, 1, inF, out.data, 0, outF, false);
  const u = allocBuffer(m * r, false);
  K.gemm(m, r, inF, xd, 0, inF, 1, A.data, 0, 1, inF, u, 0, r, false);
  K.scale(u, u.length, scale);
  K.gemm(m, outF, r, u, 0, r, 1, B.data, 0, 1, r, out.data, 0, outF, true);
  const done = () => {
    releaseBuffer(u);
    if (keep) releaseBuffer(xd);
  };
  if (!g.needsGrad(x, w, A, B)) {
    done();
    return out;
  }
  g.record(out, () => {
    const dy = out.grad!;
    // the frozen path: dX [m,in] += dY · W ; dW [out,in] += dYᵀ · X when W trains too
    if (x.requiresGrad) K.gemm(m, inF, outF, dy, 0, outF, 1, w.data, 0, inF, 1, x.gradBuffer(), 0, inF, true);
    if (w.requiresGrad) K.gemm(outF, inF, m, dy, 0, 1, outF, x.data, 0, inF, 1, w.gradBuffer(), 0, inF, true);
    // dB (out, r) += dyᵀ · u
    if (B.requiresGrad) K.gemm(outF, r, m, dy, 0, 1, outF, u, 0, r, 1, B.gradBuffer(), 0, r, true);
    // du (m, r) = scale · dy · B
    const du = allocBuffer(m * r, false);
    K.gemm(m, r, outF, dy, 0, outF, 1, B.data, 0, r, 1, du, 0, r, false);
    K.scale(du, du.length, scale);
    // dA (r, in) += duᵀ · xd
    if (A.requiresGrad) K.gemm(r, inF, m, du, 0, 1, r, xd, 0, inF, 1, A.gradBuffer(), 0, inF, true);
    // dx (m, in) += (du · A) ⊙ keep
    if (x.requiresGrad) {
      if (!keep) K.gemm(m, inF, r, du, 0, r, 1, A.data, 0, inF, 1, x.gradBuffer(), 0, inF, true);
      else {
        const dxd = allocBuffer(x.size, false);
        K.gemm(m, inF, r, du, 0, r, 1, A.data, 0, inF, 1, dxd, 0, inF, false);
        const dx = x.gradBuffer();
        for (let i = 0; i < dx.length; i++) dx[i]! += dxd[i]! * keep[i]!;
        releaseBuffer(dxd);
      }
    }
    releaseBuffer(du);
    done();
  });
  return out;
}

/**
 * The adapters of a model, by module (HF prefix, e.g. `model.layers.0.self_attn.q_proj`), with PEFT's
 * dropout on the adapter's input while training. Dropout masks come from a generator reseeded at each
 * optimizer step, so a resumed run draws the masks the uninterrupted one would have.
 */
export class LoraAdapters {
  /** The step's generator: it draws one seed a layer (layerSeed). */
  private random: () => number = Math.random;
  /** The current layer's generator: it draws that layer's dropout masks. */
  private masks: () => number = Math.random;

  constructor(
    readonly pairs: ReadonlyMap<string, LoraPair>,
    readonly dropout = 0,
    private readonly seed = 0,
  ) {
    if (!(dropout >= 0 && dropout < 1)) throw new Error(`LoRA dropout ${dropout} is not in [0, 1)`);
    this.reseed(0);
  }

  /** Trainable tensors by PEFT's names less the `base_model.model.` prefix: `<module>.lora_A.weight`. */
  tensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [module, { A, B }] of this.pairs) {
      out.set(`${module}.lora_A.weight`, A);
      out.set(`${module}.lora_B.weight`, B);
    }
    return out;
  }

  /** Restarts the dropout masks' generator for optimizer step `step`. */
  reseed(step: number): void {
    this.random = seededRandom(hashSeed("lora-dropout", this.seed, step));
    this.masks = this.random;
  }

  /** The seed of the next layer's dropout masks, drawn from the step's generator. */
  layerSeed(): number {
    return Math.floor(this.random() * 2 ** 32);
  }

  /**
   * Masks until the next call come from `seed`, so a layer recomputed in backward (activation
   * checkpointing) draws exactly the masks its first forward drew.
   */
  useLayerSeed(seed: number): void {
    this.masks = seededRandom(seed);
  }

  /** x · Wᵀ plus the adapter of `module` (a plain linear when the module has none). */
  linear(g: Tape, module: string, x: Tensor, w: Tensor): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) return linear(g, x, w);
    // dropout only while training (a recording tape), never in validation or inference
    const keep = g.recording && this.dropout > 0 ? this.mask(x.size) : undefined;
    return loraLinear(g, x, w, pair, keep);
  }

  private mask(n: number): Float32Array {
    const keep = new Float32Array(n);
    const kept = 1 / (1 - this.dropout);
    for (let i = 0; i < n; i++) keep[i] = this.masks() < this.dropout ? 0 : kept;
    return keep;
  }
}
