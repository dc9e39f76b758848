/**
 * Finite-difference gradient check: compares the tape's gradient of L = Σ f(inputs)·R (R a fixed random
 * projection) with central differences (L(x+h) − L(x−h)) / 2h, per input element.
 */
import { Tape, type Tensor } from "../../src/engine/autograd.ts";

/** Deterministic uniform numbers in [-1, 1) (mulberry32), for test inputs. */
export function uniformArray(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export interface GradcheckResult {
  /** Largest |analytic − numeric| / (atol + rtol·|numeric|) over checked elements; ≤ 1 passes. */
  worst: number;
  checked: number;
  detail: string;
}

export function gradcheck(
  f: (g: Tape, inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: { h?: number; atol?: number; rtol?: number; maxPerInput?: number; seed?: number } = {},
): GradcheckResult {
  const h = opts.h ?? 1e-2;
  const atol = opts.atol ?? 2e-3;
  const rtol = opts.rtol ?? 2e-2;
  const maxPer = opts.maxPerInput ?? 64;
  for (const t of inputs) {
    t.requiresGrad = true;
    t.grad = null;
  }
  const tape = new Tape();
  const y = f(tape, inputs);
  const r = uniformArray(y.size, opts.seed ?? 99);
  tape.backward(y, r);
  const analytic = inputs.map((t) => t.grad ?? new Float32Array(t.size));

  const lossAt = (): number => {
    const out = f(new Tape(false), inputs);
    let s = 0;
    for (let i = 0; i < out.size; i++) s += out.data[i]! * r[i]!;
    return s;
  };
  let worst = 0;
  let checked = 0;
  let detail = "";
  inputs.forEach((t, ti) => {
    const step = Math.max(1, Math.floor(t.size / maxPer));
    for (let i = 0; i < t.size; i += step) {
      const x0 = t.data[i]!;
      t.data[i] = x0 + h;
      const lp = lossAt();
      t.data[i] = x0 - h;
      const lm = lossAt();
      t.data[i] = x0;
      const numeric = (lp - lm) / (2 * h);
      const err = Math.abs(analytic[ti]![i]! - numeric) / (atol + rtol * Math.abs(numeric));
      checked++;
      if (err > worst) {
        worst = err;
        detail = `input ${ti} element ${i}: analytic ${analytic[ti]![i]} numeric ${numeric}`;
      }
    }
  });
  return { worst, checked, detail };
}
