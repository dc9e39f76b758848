/**
 * AdamW (decoupled weight decay, the update torch.optim.AdamW makes) and global-norm gradient clipping
 * (torch.nn.utils.clip_grad_norm_). Gradient accumulation is the tape's default: backward adds into
 * parameter gradients until `zeroGrad`.
 */
import type { Tensor } from "./autograd.ts";
import { getKernels } from "./kernels.ts";

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Decides per parameter whether weight decay applies (default: all, like torch with one group). */
  decay?: (name: string) => boolean;
}

export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  state: AdamWState = { step: 0, m: new Map(), v: new Map() };

  constructor(
    readonly params: Map<string, Tensor>,
    private readonly opts: AdamWOptions,
  ) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
  }

  /** One update of every parameter with a gradient; parameters without one are skipped like torch. */
  step(): void {
    const K = getKernels();
    this.state.step++;
    for (const [name, p] of this.params) {
      if (!p.grad) continue;
      let m = this.state.m.get(name);
      let v = this.state.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.size);
        v = new Float32Array(p.size);
        this.state.m.set(name, m);
        this.state.v.set(name, v);
      }
      const wd = this.opts.decay && !this.opts.decay(name) ? 0 : this.weightDecay;
      K.adamw(p.data, p.grad, m, v, p.size, this.lr, this.beta1, this.beta2, this.eps, wd, this.state.step);
    }
  }

  zeroGrad(): void {
    for (const p of this.params.values()) p.grad?.fill(0);
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  const K = getKernels();
  const list = [...params].filter((p) => p.grad);
  let ss = 0;
  for (const p of list) ss += K.sumSquares(p.grad!, p.size);
  const norm = Math.sqrt(ss);
  // torch: clip_coef = max_norm / (total_norm + 1e-6), applied only when below 1
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of list) K.scale(p.grad!, p.size, coef);
  return norm;
}
