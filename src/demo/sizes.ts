/**
 * How big each demo run is. Budgets (10 minutes for --quick, 45 for the full demo, on 2 cores) are met
 * by these sizes, never by skipping a stage.
 */
export interface DemoSize {
  /** Bands of the built-in task trained and evaluated. */
  bands: string[];
  /**
   * Training prompts drawn from each band per round (evaluation is even). The one-step band has only
   * ~2,540 distinct training equations, so bigger sets draw the rest from the two-step band.
   */
  bandWeights: number[];
  /** Training prompts (train split) and candidates sampled per prompt at `temperature`. */
  prompts: number;
  samplesPerPrompt: number;
  temperature: number;
  /** General (non-reasoning) prompts, one candidate each, mixed in at `generalShare`. */
  generalPrompts: number;
  generalShare: number;
  /** Held-out (test split) items per band. */
  heldOutPerBand: number;
  /** The student: preset and tokenizer vocabulary. */
  student: string;
  vocab: number;
  context: number;
  batchTokens: number;
  /** Epochs of the answer-only base, then of each distillation run on top of it. */
  baseEpochs: number;
  distillEpochs: number;
  baseLr: number;
  distillLr: number;
  maxTokens: number;
}

export type DemoSizeName = "smoke" | "quick" | "full";

export const demoSizes: Record<DemoSizeName, DemoSize> = {
  /** The whole pipeline in about a minute, for tests: the plumbing, not the learning. */
  smoke: {
    bands: ["one-step", "two-step"],
    bandWeights: [1, 1],
    prompts: 80,
    samplesPerPrompt: 2,
    temperature: 0.8,
    generalPrompts: 40,
    generalShare: 0.1,
    heldOutPerBand: 6,
    student: "1m",
    vocab: 320,
    context: 128,
    batchTokens: 1024,
    baseEpochs: 1,
    distillEpochs: 1,
    baseLr: 2e-3,
    distillLr: 1.5e-3,
    maxTokens: 48,
  },
  quick: {
    bands: ["one-step", "two-step"],
    bandWeights: [1, 1],
    prompts: 1800,
    samplesPerPrompt: 4,
    temperature: 0.8,
    generalPrompts: 300,
    generalShare: 0.1,
    heldOutPerBand: 50,
    student: "1m",
    vocab: 512,
    context: 256,
    batchTokens: 2048,
    baseEpochs: 20,
    distillEpochs: 12,
    baseLr: 2e-3,
    distillLr: 2e-3,
    maxTokens: 160,
  },
  full: {
    bands: ["one-step", "two-step"],
    bandWeights: [2, 3],
    prompts: 3000,
    samplesPerPrompt: 4,
    temperature: 0.8,
    generalPrompts: 600,
    generalShare: 0.1,
    heldOutPerBand: 100,
    student: "1m",
    vocab: 512,
    context: 256,
    batchTokens: 4096,
    baseEpochs: 40,
    distillEpochs: 20,
    baseLr: 2e-3,
    distillLr: 2e-3,
    maxTokens: 160,
  },
};
