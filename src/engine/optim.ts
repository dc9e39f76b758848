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
  /**
   * How the two moments are stored: float32 (torch's AdamW), or bfloat16 bits with stochastic rounding,
   * which halves the optimizer's memory (2 GB of a 0.5B student's 4) at the same float32 arithmetic.
   */
  stateDtype?: MomentDtype;
}

export type MomentDtype = "float32" | "bfloat16";
/** A moment: float32 values, or bfloat16 bits (the top half of a float32). */
export type Moment = Float32Array | Uint16Array;

export interface AdamWState {
  step: number;
  m: Map<string, Moment>;
  v: Map<string, Moment>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly stateDtype: MomentDtype;
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
    this.stateDtype = opts.stateDtype ?? "float32";
  }

  /** One update of every parameter with a gradient; parameters without one are skipped like torch. */
  step(): void {
    const K = getKernels();
    const step = ++this.state.step;
    let index = 0;
    for (const [name, p] of this.params) {
      index++;
      if (!p.grad) continue;
      const [m, v] = this.moments(name, p.size);
      const wd = this.opts.decay && !this.opts.decay(name) ? 0 : this.weightDecay;
      if (m instanceof Float32Array && v instanceof Float32Array)
        K.adamw(p.data, p.grad, m, v, p.size, this.lr, this.beta1, this.beta2, this.eps, wd, step);
      else if (m instanceof Uint16Array && v instanceof Uint16Array)
        K.adamwBf16(
          p.data,
          p.grad,
          m,
          v,
          p.size,
          this.lr,
          this.beta1,
          this.beta2,
          this.eps,
          wd,
          step,
          roundingSeed(step, index),
        );
      else throw new Error(`AdamW: the moments of ${name} are of two different kinds`);
    }
  }

  /** The parameter's moments, zero on its first update, of the kind `stateDtype` names. */
  private moments(name: string, size: number): [Moment, Moment] {
    let m = this.state.m.get(name);
    let v = this.state.v.get(name);
    if (!m || !v) {
      const Kind = this.stateDtype === "bfloat16" ? Uint16Array : Float32Array;
      m = new Kind(size);
      v = new Kind(size);
      this.state.m.set(name, m);
      this.state.v.set(name, v);
    }
    return [m, v];
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

/** The rounding bits' seed of one parameter's update: a function of the step, so a resumed run matches. */
function roundingSeed(step: number, index: number): number {
  return (Math.imul(step, 0x85ebca6b) ^ Math.imul(index, 0xc2b2ae35)) >>> 0;
}
