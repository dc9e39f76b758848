import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { Tape, Tensor } from "./autograd.ts";
import { type Kernels, setKernels } from "./kernels.ts";
import { jsKernels } from "./kernels-js.ts";
import { loadWasmKernels } from "./kernels-wasm.ts";
import { loadNativeKernels } from "./native-loader.ts";
import {
  add,
  attention,
  biasAdd,
  crossEntropy,
  embedding,
  linear,
  matmul,
  mean,
  mul,
  rmsnorm,
  rope,
  ropeTable,
  silu,
  softmax,
  sum,
  swiglu,
} from "./ops.ts";

const backends: Kernels[] = [jsKernels];
const native = loadNativeKernels();
if (native) backends.push(native);
const wasm = loadWasmKernels();
if (wasm) backends.push(wasm);

let seed = 1;
function rand(shape: number[], scale = 1): Tensor {
  let n = 1;
  for (const s of shape) n *= s;
  return new Tensor(uniformArray(n, seed++, scale), shape);
}

function check(name: string, f: (g: Tape, x: Tensor[]) => Tensor, inputs: Tensor[], opts = {}): void {
  const r = gradcheck(f, inputs, opts);
  assert.ok(r.checked > 0);
  assert.ok(r.worst <= 1, `${name}: ${r.detail} (worst ${r.worst.toFixed(2)})`);
}

for (const kernels of backends) {
  test(`finite-difference gradients of every op (${kernels.name} kernels)`, async (t) => {
    setKernels(kernels);
    await t.test("matmul", () =>
      check("matmul", (g, [a, b]) => matmul(g, a!, b!), [rand([5, 7]), rand([7, 3])]),
    );
    await t.test("linear (x·Wᵀ, HF layout)", () =>
      check("linear", (g, [x, w]) => linear(g, x!, w!), [rand([6, 9]), rand([4, 9])]),
    );
    await t.test("linear, larger than one register tile", () =>
      check("linear", (g, [x, w]) => linear(g, x!, w!), [rand([37, 70]), rand([45, 70])], {
        maxPerInput: 40,
      }),
    );
    await t.test("add, mul, biasAdd", () => {
      check("add", (g, [a, b]) => add(g, a!, b!), [rand([3, 4]), rand([3, 4])]);
      check("mul", (g, [a, b]) => mul(g, a!, b!), [rand([3, 4]), rand([3, 4])]);
      check("biasAdd", (g, [x, b]) => biasAdd(g, x!, b!), [rand([3, 4]), rand([4])]);
    });
    await t.test("embedding (scatter-add with repeated ids)", () => {
      const ids = new Int32Array([2, 0, 2, 4, 2]);
      check("embedding", (g, [e]) => embedding(g, e!, ids), [rand([5, 3])]);
    });
    await t.test("rmsnorm, whole rows and per head", () => {
      const w = new Tensor(
        uniformArray(6, 5, 0.3).map((v) => 1 + v),
        [6],
      );
      check("rmsnorm", (g, [x, w]) => rmsnorm(g, x!, w!, 1e-6), [rand([4, 6]), w]);
      const wh = new Tensor(
        uniformArray(4, 6, 0.3).map((v) => 1 + v),
        [4],
      );
      check("rmsnorm/head", (g, [x, w]) => rmsnorm(g, x!, w!, 1e-6), [rand([3, 12]), wh]);
    });
    await t.test("rope", () => {
      const table = ropeTable(Float32Array.from([1, 0.1, 0.01, 0.001]), 16);
      const pos = new Int32Array([0, 1, 2, 7, 0, 15]);
      check("rope", (g, [x]) => rope(g, x!, table, pos), [rand([6, 16])]);
    });
    await t.test("attention: causal, GQA, packed segments", () => {
      const [batch, time, heads, kvHeads, headDim] = [2, 6, 4, 2, 4];
      const seg = new Int32Array([0, 0, 0, 1, 1, 1, 5, 5, 5, 5, 5, 5]);
      const shape = { batch, time, heads, kvHeads, headDim, seg };
      check("attention", (g, [q, k, v]) => attention(g, q!, k!, v!, shape), [
        rand([batch * time, heads * headDim], 2),
        rand([batch * time, kvHeads * headDim], 2),
        rand([batch * time, kvHeads * headDim]),
      ]);
    });
    await t.test("silu, swiglu, softmax", () => {
      check("silu", (g, [x]) => silu(g, x!), [rand([3, 5], 3)]);
      check("swiglu", (g, [a, b]) => swiglu(g, a!, b!), [rand([3, 5], 3), rand([3, 5])]);
      check("softmax", (g, [x]) => softmax(g, x!), [rand([3, 5], 2)]);
    });
    await t.test("masked cross-entropy, sum, mean", () => {
      const targets = new Int32Array([1, 4, 0, 2]);
      const weights = new Float32Array([1, 0, 0.5, 1]);
      check("crossEntropy", (g, [x]) => crossEntropy(g, x!, targets, weights), [rand([4, 6], 3)]);
      check("sum", (g, [x]) => sum(g, x!), [rand([3, 4])]);
      check("mean", (g, [x]) => mean(g, x!), [rand([3, 4])]);
    });
  });

  test(`masked targets get exactly zero gradient (${kernels.name})`, () => {
    setKernels(kernels);
    const logits = rand([3, 5]);
    logits.requiresGrad = true;
    const g = new Tape();
    const loss = crossEntropy(g, logits, new Int32Array([1, 2, 3]), new Float32Array([1, 0, 1]));
    g.backward(loss);
    for (let j = 0; j < 5; j++) assert.equal(logits.grad![5 + j], 0);
    assert.ok(logits.grad!.slice(0, 5).some((v) => v !== 0));
  });

  test(`attention does not cross packed segments (${kernels.name})`, () => {
    setKernels(kernels);
    // the output of segment 1 must not change when segment 0's values change
    const shape = { batch: 1, time: 4, heads: 2, kvHeads: 1, headDim: 4, seg: new Int32Array([0, 0, 1, 1]) };
    const q = rand([4, 8]);
    const k = rand([4, 4]);
    const v = rand([4, 4]);
    const a = attention(new Tape(false), q, k, v, shape).data.slice(16);
    v.data.fill(7, 0, 8);
    k.data.fill(-3, 0, 8);
    const b = attention(new Tape(false), q, k, v, shape).data.slice(16);
    assert.deepEqual(a, b);
  });
}
