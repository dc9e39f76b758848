/**
 * How big each `distill demo --kd` run is. `full` is sized for 45 minutes on the 2-core machines; `smoke`
 * runs every step on tiny sizes, for tests. Model specs are `new:` presets with their overrides.
 */
export interface KdSize {
  bands: string[];
  /** Training prompts; the built-in teacher answers each `samplesPerPrompt` times at T = 0.8. */
  prompts: number;
  samplesPerPrompt: number;
  heldOutPerBand: number;
  vocab: number;
  context: number;
  batchTokens: number;
  /** The teacher's samples the students learn from: its correct answers, or all of them. */
  keep: "correct" | "all";
  /** The neural teacher and how long it learns from the filtered traces. */
  teacher: string;
  teacherEpochs: number;
  teacherLr: number;
  /** The smaller student, its learning rate, and its budgets of student tokens. */
  student: string;
  studentLr: number;
  budgets: number[];
  /** On-policy budgets: SFT for half (one of `budgets` / 2), on-policy for the rest. */
  onPolicyBudgets: number[];
  onPolicyLr: number;
  promptsPerStep: number;
  /** Tokens a teacher sample, an on-policy answer, an evaluated answer. */
  maxTokens: number;
  /** Alternatives a token the teacher records (generate --logprobs) and is asked for on-policy. */
  topK: number;
}

export type KdSizeName = "smoke" | "full";

export const kdSizes: Record<KdSizeName, KdSize> = {
  smoke: {
    bands: ["one-step", "two-step"],
    prompts: 60,
    samplesPerPrompt: 2,
    heldOutPerBand: 4,
    vocab: 320,
    context: 128,
    batchTokens: 1024,
    keep: "all",
    teacher: "1m?hidden=64&layers=2&heads=4&kvHeads=2&ffn=192",
    teacherEpochs: 2,
    teacherLr: 2e-3,
    student: "1m?hidden=32&layers=1&heads=2&kvHeads=1&ffn=64",
    studentLr: 3e-3,
    budgets: [3000, 6000],
    onPolicyBudgets: [6000],
    onPolicyLr: 1e-3,
    promptsPerStep: 4,
    maxTokens: 48,
    topK: 5,
  },
  full: {
    bands: ["one-step", "two-step"],
    prompts: 1800,
    samplesPerPrompt: 4,
    heldOutPerBand: 50,
    vocab: 512,
    context: 256,
    batchTokens: 2048,
    keep: "correct",
    teacher: "1m",
    teacherEpochs: 24,
    teacherLr: 2e-3,
    student: "1m?layers=2",
    studentLr: 2e-3,
    budgets: [500_000, 1_000_000, 2_000_000],
    onPolicyBudgets: [1_000_000],
    onPolicyLr: 1e-3,
    promptsPerStep: 16,
    maxTokens: 160,
    topK: 20,
  },
};

/** A preset spec with more settings: `1m` + `vocab=512` → `1m?vocab=512`, `1m?hidden=64` → `1m?hidden=64&vocab=512`. */
export function withSettings(spec: string, settings: Record<string, number>): string {
  const extra = Object.entries(settings)
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  return `new:${spec}${spec.includes("?") ? "&" : "?"}${extra}`;
}
