import assert from "node:assert/strict";
import { test } from "node:test";
import { bf16ToF32 } from "../model/dtype.ts";
import { Tensor } from "./autograd.ts";
import { AdamW, clipGradNorm } from "./optim.ts";

test("AdamW: first step moves each weight by lr·sign(g) after decoupled decay, like torch", () => {
  const p = new Tensor(new Float32Array([1, -2, 0.5]), [3], true);
  p.grad = new Float32Array([0.3, -4, 0]);
  const opt = new AdamW(new Map([["w", p]]), { lr: 0.1, weightDecay: 0.5 });
  opt.step();
  // p·(1 − lr·wd) − lr·m̂/(√v̂ + eps), with m̂ = g, √v̂ = |g| on step 1
  const expect = [1 * 0.95 - 0.1, -2 * 0.95 + 0.1, 0.5 * 0.95];
  for (let i = 0; i < 3; i++)
    assert.ok(Math.abs(p.data[i]! - expect[i]!) < 1e-6, `${p.data[i]} vs ${expect[i]}`);
  // step 2 with the same gradient: bias-corrected moments are again g and |g|
  opt.step();
  const expect2 = expect.map((x, i) => x * 0.95 - (i === 2 ? 0 : 0.1 * Math.sign(p.grad![i]!)));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(p.data[i]! - expect2[i]!) < 1e-5);
});

test("AdamW skips weight decay where the decay filter says no", () => {
  const p = new Tensor(new Float32Array([2]), [1], true);
  p.grad = new Float32Array([0]);
  new AdamW(new Map([["norm.weight", p]]), {
    lr: 0.1,
    weightDecay: 0.5,
    decay: (n) => !n.endsWith("norm.weight"),
  }).step();
  assert.equal(p.data[0], 2);
});

test("clipGradNorm scales to the max norm and reports the norm before clipping", () => {
  const a = new Tensor(new Float32Array([3, 0]), [2], true);
  const b = new Tensor(new Float32Array([4]), [1], true);
  a.grad = new Float32Array([3, 0]);
  b.grad = new Float32Array([4]);
  assert.ok(Math.abs(clipGradNorm([a, b], 1) - 5) < 1e-9);
  assert.ok(Math.abs(a.grad[0]! - 0.6) < 1e-6 && Math.abs(b.grad[0]! - 0.8) < 1e-6);
  assert.ok(Math.abs(clipGradNorm([a, b], 10) - 1) < 1e-5);
  assert.ok(Math.abs(a.grad[0]! - 0.6) < 1e-6, "no scaling below the max norm");
});

/** Float32 values of bfloat16 bits. */
const widen = (bits: Uint16Array) => bf16ToF32(bits);

test("AdamW with bfloat16 moments: stochastic rounding lets v gather increments below bf16's resolution", () => {
  // A constant gradient: v_t = (1 − β2^t)·g². Each step adds (1 − β2)·g² ≈ 0.1% of v, less than half
  // of bf16's 2^-8 spacing, so round-to-nearest would stall v near half its value; unbiased rounding
  // must track it.
  const n = 4096;
  const g = Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 97) / 64);
  const p = new Tensor(new Float32Array(n), [n], true);
  p.grad = g;
  const opt = new AdamW(new Map([["w", p]]), { lr: 0, stateDtype: "bfloat16" });
  const steps = 2000;
  for (let s = 0; s < steps; s++) opt.step();
  const v = widen(opt.state.v.get("w") as Uint16Array);
  const m = widen(opt.state.m.get("w") as Uint16Array);
  const expected = 1 - 0.999 ** steps;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const ratio = v[i]! / (expected * g[i]! * g[i]!);
    assert.ok(Math.abs(ratio - 1) < 0.2, `v[${i}] is ${ratio.toFixed(3)} of its value`);
    assert.ok(Math.abs(m[i]! / g[i]! - 1) < 0.01, `m[${i}]`);
    sum += ratio;
  }
  assert.ok(Math.abs(sum / n - 1) < 0.005, `v is on average ${(sum / n).toFixed(4)} of its value`);
});

test("AdamW with bfloat16 moments descends like float32 moments", () => {
  // a badly conditioned quadratic, Σ c_i·(p_i − t_i)², from the same start with both kinds of moments
  const n = 2000;
  const c = Float32Array.from({ length: n }, (_, i) => 10 ** ((i % 7) - 3));
  const t = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const run = (stateDtype: "float32" | "bfloat16") => {
    const p = new Tensor(new Float32Array(n), [n], true);
    p.grad = new Float32Array(n);
    const opt = new AdamW(new Map([["w", p]]), { lr: 0.01, weightDecay: 0, stateDtype });
    const losses: number[] = [];
    for (let s = 0; s < 300; s++) {
      let loss = 0;
      for (let i = 0; i < n; i++) {
        const d = p.data[i]! - t[i]!;
        loss += c[i]! * d * d;
        p.grad[i] = 2 * c[i]! * d;
      }
      losses.push(loss);
      opt.step();
    }
    return losses;
  };
  const a = run("float32");
  const b = run("bfloat16");
  assert.ok(a.at(-1)! < a[0]! * 0.01, `float32 ${a[0]} → ${a.at(-1)}`);
  // within 2% while the loss falls its first four decades, within 15% down to 1e-8 of where it began
  for (let s = 0; s < a.length; s++) {
    const off = Math.abs(b[s]! / a[s]! - 1);
    assert.ok(off < (a[s]! > 1e-4 * a[0]! ? 0.02 : 0.15), `step ${s}: ${b[s]} vs ${a[s]}`);
  }
  assert.ok(b.at(-1)! < 1e-7 * b[0]!);
});
