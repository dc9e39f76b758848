import assert from "node:assert/strict";
import { test } from "node:test";
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
