/** `distill verify`: answer equivalence over a JSON Lines file of gold/pred pairs. */
import { Command } from "commander";
import { integerFlag } from "../util/flags.ts";
import { type VerifySummary, verifyFile } from "./verify.ts";

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The human-readable summary `distill verify` prints. */
export function formatSummary(summary: VerifySummary, outPath: string): string {
  const v = summary.verdicts;
  const lines = [
    `${summary.lines} lines → ${outPath}: ${v.true} equivalent, ${v.false} not, ${v.null} undecided`,
  ];
  const a = summary.agreement;
  if (a) {
    lines.push(
      `agreement with expected: ${a.agree}/${a.total} = ${percent(a.rate)} (undecided: ${a.undecided})`,
    );
    const width = Math.max(...Object.keys(a.byCategory).map((k) => k.length));
    for (const [name, c] of Object.entries(a.byCategory))
      lines.push(
        `  ${name.padEnd(width)}  ${`${c.agree}/${c.total}`.padStart(7)}  ${percent(c.rate).padStart(6)}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

export const verifyCommand = new Command("verify")
  .description(
    "check predicted answers against gold answers (numbers, LaTeX expressions, sets, intervals, matrices, relations); writes equivalent: true|false|null per line",
  )
  .requiredOption("--in <file>", "JSON Lines input: gold, pred [, precision, expected, category, …]")
  .requiredOption("--out <file>", "JSON Lines output: the input lines plus equivalent")
  .option(
    "--precision <places>",
    "decimal places for decimal answers (default: 6; a line's own precision wins)",
    integerFlag(0, 15),
  )
  .option("--answer-start <marker>", "opening marker of the template's answer part", "<answer>")
  .option("--answer-end <marker>", "closing marker of the template's answer part", "</answer>")
  .option(
    "--allow-set-relation",
    "compare a gold set with a predicted inequality (a line's allow_set_relation_comp wins)",
  )
  .option("--json", "print the summary as JSON")
  .action(async (opts) => {
    const summary = await verifyFile(opts.in, opts.out, {
      precision: opts.precision,
      answerStart: opts.answerStart,
      answerEnd: opts.answerEnd,
      allowSetRelationComparison: opts.allowSetRelation,
    });
    process.stdout.write(
      opts.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary, opts.out),
    );
  });
