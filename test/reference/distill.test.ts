/**
 * The distillation loss (src/engine/distill.ts, fused with the head in linearDistillLoss) against the same
 * formula written in PyTorch with autograd (distill_loss.py, float64): forward and reverse KL, with and
 * without cross-entropy, at temperatures 1 and 2, on a Qwen-like vocabulary slice with rows that lack a
 * teacher, alternatives that are missing and a masked row. Bound: loss and every gradient element within
 * 1e-5 of the reference, relative to the largest magnitude of that quantity.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Tape, Tensor } from "../../src/engine/autograd.ts";
import type { DistillSettings, TeacherTopK } from "../../src/engine/distill.ts";
import { getKernels } from "../../src/engine/kernels.ts";
import { linearDistillLoss } from "../../src/engine/loss.ts";
import { uniformArray } from "../support/gradcheck.ts";
import { syntheticTeacher } from "../support/teacherTopK.ts";
import { maxDiff, referenceSkip, runPython } from "./reference.ts";

const [rows, C, V, K] = [48, 32, 1000, 5];

/** Rows without a teacher, rows of two alternatives, rows that leave no tail at all. */
const teacherOf = (seed: number): TeacherTopK =>
  syntheticTeacher({
    rows,
    k: K,
    vocab: V,
    seed,
    mass: 0.97,
    rowStride: 37,
    idStride: 101,
    without: (r) => r % 11 === 4,
    few: (r) => r % 7 === 3,
    whole: (r) => r % 5 === 0,
  });

const settingsList: DistillSettings[] = [
  { alpha: 0.5, temperature: 1, divergence: "forward" },
  { alpha: 0, temperature: 2, divergence: "forward" },
  { alpha: 0.5, temperature: 1, divergence: "reverse" },
  { alpha: 0, temperature: 2, divergence: "reverse" },
];

test("the distillation loss and its gradients match PyTorch's autograd (≤ 1e-5 relative)", {
  skip: referenceSkip,
}, () => {
  const h = uniformArray(rows * C, 5, 2);
  const w = uniformArray(V * C, 6, 2);
  const targets = Int32Array.from({ length: rows }, (_, r) => (r * 53) % V);
  const weights = Float32Array.from({ length: rows }, (_, r) => (r === 9 ? 0 : 1));
  const teacher = teacherOf(7);
  const job = {
    rows,
    C,
    V,
    K,
    h: [...h],
    w: [...w],
    targets: [...targets],
    weights: [...weights],
    ids: [...teacher.ids],
    probs: [...teacher.probs],
    has: [...teacher.has].map(Boolean),
    settings: settingsList,
  };
  const reference: { loss: number; dh: number[]; dw: number[] }[] = JSON.parse(
    runPython("distill_loss.py", [], JSON.stringify(job)),
  );
  for (const [i, settings] of settingsList.entries()) {
    const ht = new Tensor(h.slice(), [rows, C], true);
    const wt = new Tensor(w.slice(), [V, C], true);
    const g = new Tape();
    const loss = linearDistillLoss(g, ht, wt, targets, weights, teacher, settings);
    const value = loss.data[0]!;
    g.backward(loss);
    const ref = reference[i]!;
    const where = `${getKernels().name}, ${JSON.stringify(settings)}`;
    assert.ok(
      Math.abs(value - ref.loss) <= 1e-5 * Math.abs(ref.loss),
      `${where}: loss ${value} vs ${ref.loss}`,
    );
    for (const [name, got, want] of [
      ["dh", ht.grad!, ref.dh],
      ["dw", wt.grad!, ref.dw],
    ] as const) {
      const { diff, scale } = maxDiff(got, want);
      assert.ok(diff <= 1e-5 * scale, `${where}: ${name} differs by ${diff} (largest ${scale})`);
    }
  }
});
