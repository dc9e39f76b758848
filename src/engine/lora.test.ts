import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { Tape, Tensor } from "./autograd.ts";
import { LoraAdapters, loraDelta } from "./lora.ts";
import { linear } from "./ops.ts";

const [m, inF, outF, r] = [5, 7, 6, 3];
const x = () => new Tensor(uniformArray(m * inF, 1), [m, inF]);
const A = () => new Tensor(uniformArray(r * inF, 2), [r, inF]);
const B = () => new Tensor(uniformArray(outF * r, 3), [outF, r]);

test("loraDelta is scale · x·Aᵀ·Bᵀ (the product through the merged matrix B·A)", () => {
  const [xs, As, Bs] = [x(), A(), B()];
  const delta = loraDelta(new Tape(false), xs, { A: As, B: Bs, scale: 2.5 });
  for (let i = 0; i < m; i++)
    for (let o = 0; o < outF; o++) {
      let want = 0;
      for (let k = 0; k < r; k++)
        for (let j = 0; j < inF; j++)
          want += Bs.data[o * r + k]! * As.data[k * inF + j]! * xs.data[i * inF + j]!;
      assert.ok(Math.abs(delta.data[i * outF + o]! - 2.5 * want) < 1e-5, `row ${i} out ${o}`);
    }
});

test("loraDelta: finite-difference gradients of x, A and B", () => {
  const result = gradcheck(
    (g, [xs, As, Bs]) => loraDelta(g, xs!, { A: As!, B: Bs!, scale: 1.5 }),
    [x(), A(), B()],
  );
  assert.ok(result.worst <= 1, `${result.detail} (worst ${result.worst.toFixed(2)})`);
});

test("loraDelta with a dropout mask: finite-difference gradients, and dropped inputs get none", () => {
  const keep = new Float32Array(m * inF);
  for (let i = 0; i < keep.length; i++) keep[i] = i % 3 === 0 ? 0 : 1 / (1 - 1 / 3);
  const f = (g: Tape, [xs, As, Bs]: Tensor[]) => loraDelta(g, xs!, { A: As!, B: Bs!, scale: 0.5 }, keep);
  const result = gradcheck(f, [x(), A(), B()]);
  assert.ok(result.worst <= 1, `${result.detail} (worst ${result.worst.toFixed(2)})`);
  const xs = x();
  xs.requiresGrad = true;
  const g = new Tape();
  const out = f(g, [xs, A(), B()]);
  g.backward(out, new Float32Array(out.size).fill(1));
  for (let i = 0; i < keep.length; i += 3) assert.equal(xs.grad![i], 0);
});

test("a frozen weight gets no gradient through linear + adapter; A and B do", () => {
  const w = new Tensor(uniformArray(outF * inF, 4), [outF, inF], false);
  const [As, Bs] = [A(), B()];
  As.requiresGrad = true;
  Bs.requiresGrad = true;
  const adapters = new LoraAdapters(new Map([["layer", { A: As, B: Bs, scale: 2 }]]));
  const g = new Tape();
  const xs = x();
  const y = adapters.apply(g, "layer", xs, linear(g, xs, w));
  g.backward(y, new Float32Array(y.size).fill(1));
  assert.equal(w.grad, null);
  assert.ok(As.grad && Bs.grad && As.grad.some((v) => v !== 0) && Bs.grad.some((v) => v !== 0));
  // a module without an adapter is the plain linear
  const plain = linear(new Tape(false), xs, w);
  assert.equal(adapters.apply(new Tape(false), "other", xs, plain), plain);
});

test("dropout masks repeat after reseed(step) and only a recording tape drops", () => {
  const pairs = new Map([["layer", { A: A(), B: B(), scale: 1 }]]);
  const adapters = new LoraAdapters(pairs, 0.5, 7);
  const xs = x();
  const zero = new Tensor(new Float32Array(m * outF), [m, outF]);
  const run = () => [...adapters.apply(new Tape(), "layer", xs, zero).data];
  adapters.reseed(3);
  const first = run();
  const second = run();
  adapters.reseed(3);
  assert.deepEqual(run(), first);
  assert.notDeepEqual(second, first);
  const noDrop = [...new LoraAdapters(pairs, 0).apply(new Tape(false), "layer", xs, zero).data];
  assert.deepEqual([...adapters.apply(new Tape(false), "layer", xs, zero).data], noDrop);
  assert.notDeepEqual(first, noDrop);
});
