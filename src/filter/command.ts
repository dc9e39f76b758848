import { Command, Option } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { filterOptionsSchema } from "./options.ts";
import { policies } from "./policy.ts";

export const filterCommand = new Command("filter")
  .description(
    "check, rejection-sample, deduplicate and decontaminate candidates → <out>/kept.jsonl, rejected.jsonl, hard_prompts.jsonl, funnel.json",
  )
  .option("--in <generations.jsonl>", "candidates written by distill generate")
  .option("--out <dir>", "output folder (re-running replaces its outputs)")
  .addOption(
    new Option(
      "--policy <policy>",
      "which passing candidates of a prompt to keep (default all-correct)",
    ).choices(policies),
  )
  .option("--max-per-prompt <k>", "cap of all-correct; k of k-diverse (default 2)")
  .option(
    "--decontaminate <specs...>",
    "benchmark prompt sources no training prompt may overlap, e.g. gsm8k:test math500:test aime:test 'builtin:equations?split=test&count=1000'",
  )
  .option("--decontaminate-ngram <n>", "token n-gram size for decontamination (default 13)")
  .addOption(
    new Option("--dedup <what>", "deduplicate prompts, responses, both or neither (default all)").choices([
      "all",
      "prompts",
      "responses",
      "none",
    ]),
  )
  .option(
    "--near-dup-threshold <j>",
    "Jaccard similarity from which texts are near-duplicates; 1 = exact only (default 0.8)",
  )
  .option("--near-dup-min-words <n>", "shorter texts are deduplicated exactly only (default 8)")
  .option("--language <code>", "ISO 639-1 language traces must be written in (default en)")
  .option("--max-paragraph-chars <n>", "longest paragraph allowed, in characters (default 1000)")
  .option("--max-paragraph-sentences <n>", "longest paragraph allowed, in sentences (default 15)")
  .option("--max-line-repeats <n>", "a line seen this often is a loop (default 4)")
  .option(
    "--max-repeated-ngram-share <f>",
    "share of repeated 8-grams above which a trace loops (default 0.25)",
  )
  .option("--min-chars <n>", "shortest response kept (default 1)")
  .option("--max-chars <n>", "longest response kept (default 65536)")
  .option("--keep-unverifiable", "keep candidates whose answer cannot be compared with the gold")
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .addOption(
    new Option("--quiet", "no progress output, and the summary line alone (the funnel is in funnel.json)"),
  )
  // commander errors reach cli.ts, which exits 2 like every usage error (addCommand does not inherit it)
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(filterOptionsSchema, flags, "filter");
    const { filter } = await import("./filter.ts"); // loads the checks and eld: only when filtering
    const f = await withFolderLock(options.out, "distill filter", () => filter(options));
    const width = Math.max(...f.steps.map((s) => s.step.length));
    const lines = [
      `filter: ${f.candidates} candidates of ${f.prompts} prompts → kept ${f.kept} (${f.kept_prompts} prompts) in ${options.out}/kept.jsonl`,
      ...f.steps.map(
        (s) =>
          `  ${s.step.padEnd(width)}  -${String(s.removed).padStart(7)}  ${String(s.remaining).padStart(8)}`,
      ),
      `  hard prompts (no candidate passed): ${f.hard_prompts}${f.contaminated_prompts ? ` | contaminated prompts: ${f.contaminated_prompts}` : ""}`,
    ];
    process.stderr.write(`${(options.quiet ? lines.slice(0, 1) : lines).join("\n")}\n`);
  });
