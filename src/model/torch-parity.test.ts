/**
 * The engine against PyTorch's autograd and torch.optim.AdamW (torch_reference.py, a direct torch
 * implementation of the HF decoder): same weights, same batch with masked targets, three clipped AdamW
 * steps. Losses of every step and all first-step gradients must agree to float32 rounding. Runs on the
 * reference venv's PyTorch (test/reference/reference.ts): skipped locally without it, failed under CI.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { referencePython, referenceSkip } from "../../test/reference/reference.ts";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import type { Batch } from "../engine/batch.ts";
import { getKernels } from "../engine/kernels.ts";
import { decoderOptimizer, trainStep } from "../engine/step.ts";
import { randomModel } from "./model.ts";
import { TrainableDecoder } from "./trainable.ts";

const script = fileURLToPath(new URL("./torch_reference.py", import.meta.url));
const optim = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 0.5 };

for (const arch of ["qwen2", "qwen3", "llama"] as const) {
  test(`${arch}: losses and gradients match PyTorch (${getKernels().name} kernels)`, {
    skip: referenceSkip,
  }, () => {
    const config = tinyConfig(arch, { vocab_size: 53 });
    const model = randomModel(config, { seed: 7, std: 0.15 });
    const [B, T] = [2, 12];
    const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 17 + 3) % 53);
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 29 + 11) % 53);
    const weights = Float32Array.from({ length: B * T }, (_, i) => (i % T < 4 ? 0 : 1));
    const job = {
      config,
      params: Object.fromEntries(
        [...model.params].map(([k, t]) => [k, { shape: t.shape, data: [...t.data] }]),
      ),
      batch: B,
      time: T,
      tokens: [...tokens],
      targets: [...targets],
      weights: [...weights],
      optim,
      steps: 3,
    };
    const r = spawnSync(referencePython(), [script], {
      maxBuffer: 1 << 28,
      input: JSON.stringify(job),
      encoding: "utf8",
      env: { ...process.env, OMP_NUM_THREADS: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    const ref = JSON.parse(r.stdout) as { losses: number[]; grads: Record<string, number[]> };

    const dec = new TrainableDecoder(model);
    const opt = decoderOptimizer(dec, optim);
    const batch: Batch = { batch: B, time: T, tokens, targets, weights };
    for (let step = 0; step < 3; step++) {
      // first step: compare raw gradients before clipping changes them
      if (step === 0) {
        opt.zeroGrad();
        dec.lossAndGrad(batch);
        for (const [name, g] of Object.entries(ref.grads)) {
          const ours = dec.params.get(name)!.grad!;
          const scale = Math.max(1e-3, ...g.map(Math.abs));
          for (let i = 0; i < g.length; i++)
            assert.ok(
              Math.abs(ours[i]! - g[i]!) <= 2e-4 * scale,
              `${name}[${i}]: ${ours[i]} vs torch ${g[i]}`,
            );
        }
      }
      const loss = trainStep(dec, opt, [batch], optim.clip).loss;
      assert.ok(
        Math.abs(loss - ref.losses[step]!) < 2e-5 * ref.losses[step]!,
        `step ${step}: ${loss} vs torch ${ref.losses[step]}`,
      );
    }
  });
}
