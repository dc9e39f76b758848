/** What the demo and `demo --kd` share: their stage timer, and the prompt sets they train and test on. */

/** Runs one stage, telling `onStage` when it starts and recording its seconds (one decimal) by label. */
export type StageRunner = <T>(label: string, detail: string, work: () => Promise<T>) => Promise<T>;

export function stageTimer(
  seconds: Record<string, number>,
  onStage?: (stage: string, detail: string) => void,
): StageRunner {
  return async (label, detail, work) => {
    onStage?.(label, detail);
    const t0 = Date.now();
    const result = await work();
    seconds[label] = Math.round((Date.now() - t0) / 100) / 10;
    return result;
  };
}

/** Training equations of the built-in task (`difficulty` as the source takes it, weights and all). */
export function trainEquations(count: number, seed: number, difficulty: string): string {
  return `builtin:equations?count=${count}&seed=${seed}&difficulty=${difficulty}&split=train&fraction-rate=0`;
}

/** The held-out equations: `perBand` of each band from the test split, seeded apart from training. */
export function heldOutEquations(perBand: number, seed: number, bands: string[]): string {
  return `builtin:equations?count=${perBand * bands.length}&seed=${seed + 1000}&difficulty=${bands.join(",")}&split=test&fraction-rate=0`;
}
