import { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { integerFlag } from "../util/flags.ts";
import { withFolderLock } from "../util/lock.ts";
import type { DemoSummary } from "./demo.ts";
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
  .action(async (flags: { out: string; quick?: boolean; seed?: number; size?: string }) => {
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
