import { Command } from "commander";
import { withFolderLock } from "../util/lock.ts";
import type { DemoSummary } from "./demo.ts";

export const demoCommand = new Command("demo")
  .description(
    "the whole distillation offline on the built-in equation task: teacher → filters → mix → student before/after → report",
  )
  .option("--out <dir>", "run folder", "runs/demo")
  .option("--quick", "a smaller run (within 10 minutes on 2 cores); the full demo takes up to 45")
  .option("--seed <s>", "seed of the whole run (default 1)", Number)
  .action(async (flags: { out: string; quick?: boolean; seed?: number }) => {
    const { demo } = await import("./demo.ts");
    const started = Date.now();
    const summary = await withFolderLock(flags.out, "distill demo", () =>
      demo({
        ...flags,
        onStage: (stage, detail) => process.stderr.write(`[${elapsed(started)}] ${stage}: ${detail}\n`),
      }),
    );
    process.stdout.write(`\n${formatTable(summary)}\n${formatExample(summary)}\n`);
    process.stdout.write(`run folder: ${flags.out} (summary.json, report.html) — ${elapsed(started)}\n`);
  });

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
