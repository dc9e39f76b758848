import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { Tape, Tensor } from "./autograd.ts";
import { type Kernels, setKernels } from "./kernels.ts";
import { jsKernels } from "./kernels-js.ts";
import { loadWasmKernels } from "./kernels-wasm.ts";
import { linearCrossEntropy } from "./loss.ts";
import { loadNativeKernels } from "./native-loader.ts";
import { crossEntropy, linear } from "./ops.ts";

const backends: Kernels[] = [jsKernels];
const native = loadNativeKernels();
if (native) backends.push(native);
const wasm = loadWasmKernels();
if (wasm) backends.push(wasm);

const [rows, C, V] = [11, 8, 13];
const targets = Int32Array.from({ length: rows }, (_, i) => (i * 5) % V);
const weights = Float32Array.from({ length: rows }, (_, i) => (i % 4 === 1 ? 0 : 1 + (i % 3) / 2));

for (const kernels of backends) {
  test(`linearCrossEntropy equals crossEntropy(linear) in value and gradients, any chunk size (${kernels.name})`, () => {
    setKernels(kernels);
    const hData = uniformArray(rows * C, 1, 2);
    const wData = uniformArray(V * C, 2, 2);
    const run = (fused: boolean, chunk: number) => {
      const h = new Tensor(hData.slice(), [rows, C], true);
      const w = new Tensor(wData.slice(), [V, C], true);
      const g = new Tape();
      const loss = fused
        ? linearCrossEntropy(g, h, w, targets, weights, { normalizer: 7, chunk })
        : crossEntropy(g, linear(g, h, w), targets, weights, 7);
      const value = loss.data[0]!;
      g.backward(loss);
      return { value, dh: h.grad!, dw: w.grad! };
    };
    const ref = run(false, 0);
    for (const chunk of [1, 3, 64]) {
      const got = run(true, chunk);
      assert.ok(Math.abs(got.value - ref.value) < 1e-5, `loss ${got.value} vs ${ref.value}`);
      for (let i = 0; i < ref.dh.length; i++) assert.ok(Math.abs(got.dh[i]! - ref.dh[i]!) < 1e-5);
      for (let i = 0; i < ref.dw.length; i++) assert.ok(Math.abs(got.dw[i]! - ref.dw[i]!) < 1e-5);
    }
    // masked rows of h get exactly zero gradient
    const got = run(true, 4);
    for (let j = 0; j < C; j++) assert.equal(got.dh[1 * C + j], 0);
  });

  test(`linearCrossEntropy passes a finite-difference check (${kernels.name})`, () => {
    setKernels(kernels);
    const h = new Tensor(uniformArray(rows * C, 3), [rows, C]);
    const w = new Tensor(uniformArray(V * C, 4), [V, C]);
    const r = gradcheck((g, [a, b]) => linearCrossEntropy(g, a!, b!, targets, weights, { chunk: 4 }), [h, w]);
    assert.ok(r.worst <= 1, `${r.detail} (worst ${r.worst.toFixed(2)})`);
  });
}
