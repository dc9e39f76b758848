import { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { integerFlag } from "../util/flags.ts";
import { withFolderLock } from "../util/lock.ts";
import type { DemoSummary } from "./demo.ts";
import type { KdSummary } from "./kd.ts";
import { type KdSizeName, kdSizes } from "./kdSizes.ts";
import { type DemoSizeName, demoSizes } from "./sizes.ts";

export const demoCommand = new Command("demo")
  .description(
    "the whole distillation offline on the built-in equation task: teacher → filters → mix → student before/after → report",
  )
  .option("--out <dir>", "run folder", "runs/demo")
  .option("--quick", "a smaller run (within 10 minutes on 2 cores); the full demo takes up to 45")
  .option("--seed <s>", "seed of the whole run (default 1)", integerFlag(0, 2 ** 31 - 1))
  .option(
    "--size <name>",
    `${Object.keys(demoSizes).join(", ")} (smoke: every stage on tiny sizes in about a minute — the plumbing, not the learning); default full, --quick, or $DISTILLERY_DEMO_SIZE`,
  )
  .option(
    "--kd",
    "the teacher's probabilities against its samples: a neural teacher, then a smaller student by SFT, top-K KD and on-policy, the same student tokens for each (--size smoke|full)",
  )
  .action(async (flags: { out: string; quick?: boolean; seed?: number; size?: string; kd?: boolean }) => {
    if (flags.kd) return runKd(flags);
    const size =
      flags.size !== undefined
        ? demoSize(flags.size, "--size")
        : demoSize(flags.quick ? undefined : process.env.DISTILLERY_DEMO_SIZE, "$DISTILLERY_DEMO_SIZE");
    const { demo } = await import("./demo.ts");
    const started = Date.now();
    const summary = await withFolderLock(flags.out, "distill demo", () =>
      demo({
        ...flags,
        size,
        onStage: (stage, detail) => process.stderr.write(`[${elapsed(started)}] ${stage}: ${detail}\n`),
      }),
    );
    process.stdout.write(`\n${formatTable(summary)}\n${formatExample(summary)}\n`);
    process.stdout.write(`run folder: ${flags.out} (summary.json, report.html) — ${elapsed(started)}\n`);
  });

/** `distill demo --kd`: the experiment of src/demo/kd.ts, its table on stdout. */
async function runKd(flags: { out: string; seed?: number; size?: string }): Promise<void> {
  if (flags.size !== undefined && !Object.hasOwn(kdSizes, flags.size))
    throw new UserError(`--size: "${flags.size}" is not a --kd size (${Object.keys(kdSizes).join(", ")})`);
  const { kdExperiment } = await import("./kd.ts");
  const started = Date.now();
  const out = flags.out === "runs/demo" ? "runs/kd" : flags.out;
  const summary = await withFolderLock(out, "distill demo --kd", () =>
    kdExperiment({
      out,
      size: flags.size as KdSizeName | undefined,
      seed: flags.seed,
      onStage: (stage, detail) => process.stderr.write(`[${elapsed(started)}] ${stage}: ${detail}\n`),
    }),
  );
  process.stdout.write(`\n${formatKdTable(summary)}\n`);
  process.stdout.write(`run folder: ${out} (kd.json, report.html) — ${elapsed(started)}\n`);
}

/** Accuracy of every student by method and budget, beside the teacher's. */
export function formatKdTable(summary: KdSummary): string {
  const bands = Object.keys(summary.teacher.byBand);
  const header = ["model", "student tokens", "accuracy", ...bands];
  const rows = [
    ["teacher", "-", pct(summary.teacher.accuracy), ...bands.map((b) => pct(summary.teacher.byBand[b]))],
    ...summary.rows.map((r) => [
      r.model,
      r.tokens.toLocaleString("en-US"),
      pct(r.accuracy),
      ...bands.map((b) => pct(r.byBand[b])),
    ]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `held-out accuracy; the students learn from ${summary.teacher.kept} of the teacher's ${summary.teacher.samples} samples`,
    line(header),
    ...rows.map(line),
  ].join("\n");
}

/** `--size` (or $DISTILLERY_DEMO_SIZE, which lets tests run `npm start` as printed) checked against the known sizes. */
function demoSize(name: string | undefined, from: string): DemoSizeName | undefined {
  if (name === undefined || name === "") return undefined;
  if (!Object.hasOwn(demoSizes, name))
    throw new UserError(`${from}: "${name}" is not a demo size (${Object.keys(demoSizes).join(", ")})`);
  return name as DemoSizeName;
}

function elapsed(since: number): string {
  const s = Math.round((Date.now() - since) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const pct = (x: number | undefined) => (x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);

/** The before/after table: each model's accuracy overall and by band, format rate, mean tokens. */
export function formatTable(summary: DemoSummary): string {
  const bands = Object.keys(summary.models.teacher?.by_band ?? {});
  const header = ["model", "accuracy", ...bands, "format", "tokens"];
  const rows = (["teacher", "base", "distilled", "distilled_unfiltered"] as const).map((name) => {
    const m = summary.models[name];
    return [
      name,
      pct(m.accuracy),
      ...bands.map((b) => pct(m.by_band[b]?.accuracy)),
      pct(m.format_rate),
      m.mean_tokens.toFixed(0),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const funnel = Object.entries(summary.funnel)
    .map(([k, v]) => `${k} ${v}`)
    .join(" → ");
  return [
    `held-out accuracy (n = ${summary.models.teacher.n})`,
    line(header),
    ...rows.map(line),
    "",
    `funnel: ${funnel}`,
  ].join("\n");
}

/** The classic demonstration: one equation, the teacher's trace, the student before and after. */
export function formatExample(summary: DemoSummary): string {
  if (!summary.example) return "";
  const parts = [`\nworked example — ${summary.example.prompt}`];
  for (const [name, a] of Object.entries(summary.example.answers)) {
    parts.push(`\n── ${name} (${a.correct ? "right" : "wrong"}) ──\n${a.completion.trim()}`);
  }
  return parts.join("\n");
}
