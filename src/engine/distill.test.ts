import assert from "node:assert/strict";
import { test } from "node:test";
import { gradcheck, uniformArray } from "../../test/support/gradcheck.ts";
import { syntheticTeacher } from "../../test/support/teacherTopK.ts";
import { Tape, Tensor } from "./autograd.ts";
import type { DistillSettings, TeacherTopK } from "./distill.ts";
import { setKernels } from "./kernels.ts";
import { jsKernels } from "./kernels-js.ts";
import { linearCrossEntropy, linearDistillLoss } from "./loss.ts";

const [rows, C, V, K] = [9, 6, 17, 4];
const targets = Int32Array.from({ length: rows }, (_, i) => (i * 7) % V);
const weights = Float32Array.from({ length: rows }, (_, i) => (i === 2 ? 0 : 1 + (i % 3) / 2));

/** Row 5 has no teacher, row 3 only two alternatives; the others K ids that leave a tail. */
const sampleTeacher = (seed = 1): TeacherTopK =>
  syntheticTeacher({
    rows,
    k: K,
    vocab: V,
    seed,
    mass: 0.9,
    rowStride: 3,
    idStride: 5,
    without: (r) => r === 5,
    few: (r) => r === 3,
  });

const settingsList: DistillSettings[] = [
  { alpha: 0.5, temperature: 1, divergence: "forward" },
  { alpha: 0, temperature: 2, divergence: "forward" },
  { alpha: 0.3, temperature: 1, divergence: "reverse" },
  { alpha: 0, temperature: 1.5, divergence: "reverse" },
];

for (const settings of settingsList) {
  test(`linearDistillLoss passes a finite-difference check (${JSON.stringify(settings)})`, () => {
    setKernels(jsKernels);
    const h = new Tensor(uniformArray(rows * C, 3, 1.5), [rows, C]);
    const w = new Tensor(uniformArray(V * C, 4, 1.5), [V, C]);
    const teacher = sampleTeacher();
    const r = gradcheck(
      (g, [a, b]) => linearDistillLoss(g, a!, b!, targets, weights, teacher, settings, { chunk: 4 }),
      [h, w],
      { h: 1e-3 },
    );
    assert.ok(r.worst <= 1, `${r.detail} (worst ${r.worst.toFixed(2)})`);
  });
}

function lossAndGrad(f: (g: Tape, h: Tensor, w: Tensor) => Tensor) {
  const h = new Tensor(uniformArray(rows * C, 3, 1.5), [rows, C], true);
  const w = new Tensor(uniformArray(V * C, 4, 1.5), [V, C], true);
  const g = new Tape();
  const loss = f(g, h, w);
  const value = loss.data[0]!;
  g.backward(loss);
  return { value, dh: h.grad!, dw: w.grad! };
}

test("with alpha 1, or no teacher anywhere, it is the cross-entropy", () => {
  setKernels(jsKernels);
  const ce = lossAndGrad((g, h, w) => linearCrossEntropy(g, h, w, targets, weights));
  const none = { ...sampleTeacher(), has: new Uint8Array(rows) };
  for (const [teacher, alpha] of [
    [sampleTeacher(), 1],
    [none, 0.2],
  ] as const) {
    const settings = { alpha, temperature: 2, divergence: "forward" } as const;
    const kd = lossAndGrad((g, h, w) => linearDistillLoss(g, h, w, targets, weights, teacher, settings));
    assert.ok(Math.abs(kd.value - ce.value) < 1e-6, `${kd.value} vs ${ce.value}`);
    for (let i = 0; i < ce.dw.length; i++) assert.ok(Math.abs(kd.dw[i]! - ce.dw[i]!) < 1e-6);
  }
});

test("a teacher equal to the student's own bucketed distribution costs no divergence and gives no gradient", () => {
  setKernels(jsKernels);
  const hData = uniformArray(rows * C, 3, 1.5);
  const wData = uniformArray(V * C, 4, 1.5);
  // the student's own softmax at the sample teacher's ids
  const teacher = sampleTeacher();
  teacher.has.fill(1); // row 5, with no alternatives, is all tail on both sides
  for (let r = 0; r < rows; r++) {
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += hData[r * C + c]! * wData[v * C + c]!;
      return s;
    });
    const lse = Math.log(z.reduce((a, x) => a + Math.exp(x), 0));
    for (let k = 0; k < K; k++) {
      const id = teacher.ids[r * K + k]!;
      if (id >= 0) teacher.probs[r * K + k] = Math.exp(z[id]! - lse);
    }
  }
  for (const divergence of ["forward", "reverse"] as const) {
    const h = new Tensor(hData.slice(), [rows, C], true);
    const w = new Tensor(wData.slice(), [V, C], true);
    const g = new Tape();
    const loss = linearDistillLoss(g, h, w, targets, weights, teacher, {
      alpha: 0,
      temperature: 1,
      divergence,
    });
    const value = loss.data[0]!;
    g.backward(loss);
    assert.ok(Math.abs(value) < 1e-6, `${divergence}: ${value}`);
    assert.ok(w.grad!.every((x) => Math.abs(x) < 1e-6));
  }
});

test("an id twice among a row's alternatives is refused", () => {
  setKernels(jsKernels);
  const teacher = sampleTeacher();
  teacher.ids[1] = teacher.ids[0]!;
  assert.throws(
    () =>
      lossAndGrad((g, h, w) =>
        linearDistillLoss(g, h, w, targets, weights, teacher, {
          alpha: 0.5,
          temperature: 1,
          divergence: "forward",
        }),
      ),
    /token \d+ is twice among row 0's alternatives/,
  );
});

test("gradInForward gives the deferred gradients bit for bit, added to what the tensors held, and only for seed 1", () => {
  setKernels(jsKernels);
  const losses = {
    "cross-entropy": (g: Tape, h: Tensor, w: Tensor, gradInForward: boolean) =>
      linearCrossEntropy(g, h, w, targets, weights, { chunk: 4, gradInForward }),
    distillation: (g: Tape, h: Tensor, w: Tensor, gradInForward: boolean) =>
      linearDistillLoss(g, h, w, targets, weights, sampleTeacher(), settingsList[0]!, {
        chunk: 4,
        gradInForward,
      }),
  };
  for (const [name, f] of Object.entries(losses)) {
    const run = (gradInForward: boolean) => {
      const h = new Tensor(uniformArray(rows * C, 3, 1.5), [rows, C], true);
      const w = new Tensor(uniformArray(V * C, 4, 1.5), [V, C], true);
      // an earlier micro-batch's gradient: both ways add to it
      w.gradBuffer().set(uniformArray(V * C, 5));
      const g = new Tape();
      // h as an op's output, so its gradient must travel on through backward
      const x = new Tensor(h.data, [rows, C], true);
      const hh = new Tensor(x.data.slice(), [rows, C], true);
      g.record(hh, () => x.gradBuffer().set(hh.grad!));
      const loss = f(g, hh, w, gradInForward);
      const value = loss.data[0]!;
      g.backward(loss);
      return { value, dx: x.grad!, dw: w.grad! };
    };
    const deferred = run(false);
    const eager = run(true);
    assert.equal(eager.value, deferred.value, name);
    assert.deepEqual(eager.dx, deferred.dx, `${name}: dh`);
    assert.deepEqual(eager.dw, deferred.dw, `${name}: dw`);

    const h = new Tensor(uniformArray(rows * C, 3), [rows, C], true);
    const w = new Tensor(uniformArray(V * C, 4), [V, C], true);
    const g = new Tape();
    const loss = f(g, h, w, true);
    assert.throws(() => g.backward(loss, new Float32Array([2])), /gradInForward.*seed 1/, name);
  }
});
