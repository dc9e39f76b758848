/**
 * Learning rate at `step` (0-based) of `total`: linear warmup to `peak`, then cosine decay to
 * `peak × minRatio` — the schedule of most SFT recipes (TRL's `cosine` with warmup).
 */
export function learningRate(
  step: number,
  total: number,
  peak: number,
  warmup: number,
  minRatio: number,
): number {
  if (warmup > 0 && step < warmup) return (peak * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
