/**
 * A LoRA adapter's contribution to a frozen linear layer (Hu et al. 2021; PEFT's `lora.Linear`):
 *
 *   delta = scale · (drop(x) · Aᵀ) · Bᵀ      x (m, in), A (r, in), B (out, r) → (m, out)
 *
 * added to the frozen `x · Wᵀ` by the decoder. One op with its own backward, so nothing of size
 * (out, in) is ever formed: the work is O(m·r·(in + out)), and W gets no gradient at all.
 */

import { hashSeed, seededRandom } from "../util/random.ts";
import { allocBuffer, releaseBuffer, type Tape, Tensor } from "./autograd.ts";
import { getKernels } from "./kernels.ts";
import { add } from "./ops.ts";

/** One adapted module: A (r, in), B (out, r) and scale = alpha / r. */
export interface LoraPair {
  A: Tensor;
  B: Tensor;
  scale: number;
}

/**
 * scale · (x ⊙ keep) · Aᵀ · Bᵀ. `keep` (m·in, optional) is a dropout mask already divided by (1 − p),
 * like torch's inverted dropout; absent, no dropout.
 */
export function loraDelta(g: Tape, x: Tensor, pair: LoraPair, keep?: Float32Array): Tensor {
  const K = getKernels();
  const { A, B, scale } = pair;
  const [r, inF] = [A.shape[0]!, A.shape[1]!];
  const outF = B.shape[0]!;
  if (B.shape[1] !== r) throw new Error(`loraDelta: B has ${B.shape[1]} columns, A has rank ${r}`);
  const m = x.size / inF;
  if (!Number.isInteger(m)) throw new Error(`loraDelta: ${x.size} inputs are not rows of ${inF}`);
  if (keep && keep.length !== x.size) throw new Error("loraDelta: dropout mask size differs from x");

  let xd = x.data;
  if (keep) {
    xd = allocBuffer(x.size, false);
    for (let i = 0; i < xd.length; i++) xd[i] = x.data[i]! * keep[i]!;
  }
  // u (m, r) = scale · xd · Aᵀ ; out (m, out) = u · Bᵀ
  const u = allocBuffer(m * r, false);
  K.gemm(m, r, inF, xd, 0, inF, 1, A.data, 0, 1, inF, u, 0, r, false);
  K.scale(u, u.length, scale);
  const out = Tensor.empty([m, outF]);
  K.gemm(m, outF, r, u, 0, r, 1, B.data, 0, 1, r, out.data, 0, outF, false);
  const done = () => {
    releaseBuffer(u);
    if (keep) releaseBuffer(xd);
  };
  if (!g.needsGrad(x, A, B)) {
    done();
    return out;
  }
  g.record(out, () => {
    const dy = out.grad!;
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

  /** y + the adapter of `module` applied to x, or y itself when the module has no adapter. */
  apply(g: Tape, module: string, x: Tensor, y: Tensor): Tensor {
    const pair = this.pairs.get(module);
    if (!pair) return y;
    // dropout only while training (a recording tape), never in validation or inference
    const keep = g.recording && this.dropout > 0 ? this.mask(x.size) : undefined;
    return add(g, y, loraDelta(g, x, pair, keep));
  }

  private mask(n: number): Float32Array {
    const keep = new Float32Array(n);
    const kept = 1 / (1 - this.dropout);
    for (let i = 0; i < n; i++) keep[i] = this.masks() < this.dropout ? 0 : kept;
    return keep;
  }
}
