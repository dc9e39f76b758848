import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { Tape, Tensor } from "./autograd.ts";
import { LoraAdapters, loraLinear } from "./lora.ts";
import { linear } from "./ops.ts";

const [m, inF, outF, r] = [5, 7, 6, 3];
const x = () => new Tensor(uniformArray(m * inF, 1), [m, inF]);
const A = () => new Tensor(uniformArray(r * inF, 2), [r, inF]);
const B = () => new Tensor(uniformArray(outF * r, 3), [outF, r]);

const W = () => new Tensor(uniformArray(outF * inF, 5), [outF, inF]);

test("loraLinear is x·Wᵀ + scale · x·Aᵀ·Bᵀ (the product through the merged matrix W + scale·B·A)", () => {
  const [xs, Ws, As, Bs] = [x(), W(), A(), B()];
  const y = loraLinear(new Tape(false), xs, Ws, { A: As, B: Bs, scale: 2.5 });
  for (let i = 0; i < m; i++)
    for (let o = 0; o < outF; o++) {
      let want = 0;
      for (let j = 0; j < inF; j++) {
        let merged = Ws.data[o * inF + j]!;
        for (let k = 0; k < r; k++) merged += 2.5 * Bs.data[o * r + k]! * As.data[k * inF + j]!;
        want += merged * xs.data[i * inF + j]!;
      }
      assert.ok(Math.abs(y.data[i * outF + o]! - want) < 1e-5, `row ${i} out ${o}`);
    }
});

test("loraLinear: finite-difference gradients of x, W, A and B", () => {
  const result = gradcheck(
    (g, [xs, Ws, As, Bs]) => loraLinear(g, xs!, Ws!, { A: As!, B: Bs!, scale: 1.5 }),
    [x(), W(), A(), B()],
  );
  assert.ok(result.worst <= 1, `${result.detail} (worst ${result.worst.toFixed(2)})`);
});

test("loraLinear with a dropout mask: finite-difference gradients; the frozen path sees every input", () => {
  const keep = new Float32Array(m * inF);
  for (let i = 0; i < keep.length; i++) keep[i] = i % 3 === 0 ? 0 : 1 / (1 - 1 / 3);
  const f = (g: Tape, [xs, Ws, As, Bs]: Tensor[]) =>
    loraLinear(g, xs!, Ws!, { A: As!, B: Bs!, scale: 0.5 }, keep);
  const result = gradcheck(f, [x(), W(), A(), B()]);
  assert.ok(result.worst <= 1, `${result.detail} (worst ${result.worst.toFixed(2)})`);
  // with B = 0 the adapter adds nothing: y is the plain linear, dropped inputs included
  const [xs, Ws] = [x(), W()];
  const zeroB = new Tensor(new Float32Array(outF * r), [outF, r]);
  const y = loraLinear(new Tape(false), xs, Ws, { A: A(), B: zeroB, scale: 0.5 }, keep);
  assert.deepEqual([...y.data], [...linear(new Tape(false), xs, Ws).data]);
});

test("a frozen weight gets no gradient through linear + adapter; A and B do", () => {
  const w = new Tensor(uniformArray(outF * inF, 4), [outF, inF], false);
  const [As, Bs] = [A(), B()];
  As.requiresGrad = true;
  Bs.requiresGrad = true;
  const adapters = new LoraAdapters(new Map([["layer", { A: As, B: Bs, scale: 2 }]]));
  const g = new Tape();
  const xs = x();
  const y = adapters.linear(g, "layer", xs, w);
  g.backward(y, new Float32Array(y.size).fill(1));
  assert.equal(w.grad, null);
  assert.ok(As.grad && Bs.grad && As.grad.some((v) => v !== 0) && Bs.grad.some((v) => v !== 0));
  // a module without an adapter is the plain linear
  const plain = linear(new Tape(false), xs, w);
  assert.deepEqual([...adapters.linear(new Tape(false), "other", xs, w).data], [...plain.data]);
});

test("dropout masks repeat after reseed(step) and only a recording tape drops", () => {
  const pairs = new Map([["layer", { A: A(), B: B(), scale: 1 }]]);
  const adapters = new LoraAdapters(pairs, 0.5, 7);
  const xs = x();
  const zero = new Tensor(new Float32Array(outF * inF), [outF, inF]);
  const run = () => [...adapters.linear(new Tape(), "layer", xs, zero).data];
  adapters.reseed(3);
  const first = run();
  const second = run();
  adapters.reseed(3);
  assert.deepEqual(run(), first);
  assert.notDeepEqual(second, first);
  const noDrop = [...new LoraAdapters(pairs, 0).linear(new Tape(false), "layer", xs, zero).data];
  assert.deepEqual([...adapters.linear(new Tape(false), "layer", xs, zero).data], noDrop);
  assert.notDeepEqual(first, noDrop);
});
