import path from "node:path";
import { Command } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { evalOptionsSchema } from "./options.ts";

export const evalCommand = new Command("eval")
  .description(
    "evaluate a model on a benchmark → <out>/results.jsonl and summary.json (pass@1 over k samples, pass@k, format rate, lengths)",
  )
  .option(
    "--model <spec>",
    "a model folder of the project's own, builtin:equations, openai:<model>@<url>, gguf:<path>",
  )
  .option(
    "--benchmark <source>",
    "builtin:equations?split=test&count=…, gsm8k:test, math500:test, aime:test, jsonl:<path>",
  )
  .option("--out <dir>", "output folder (re-run to resume)")
  .option("--samples <k>", "samples per item (default 1)")
  .option("--temperature <t>", "sampling temperature (default 0: greedy)")
  .option("--top-p <p>", "nucleus sampling (default 1)")
  .option("--max-tokens <m>", "completion token limit (default 1024)")
  .option("--limit <n>", "first n items only")
  .option("--concurrency <c>", "requests in flight / sequences decoded together (default 32)")
  .option("--threads <n>", "CPU threads of a gguf: model's llama.cpp (default: the cores available less one)")
  .option("--seed <s>", "sampling seed (default 0)")
  .option("--api-key-env <name>", "environment variable holding the API key")
  .option("--prompt-field <name>", "jsonl: field holding the prompt")
  .option("--answer-field <name>", "jsonl: field holding the gold answer")
  .option("--id-field <name>", "jsonl: field holding a stable item id")
  .option(
    "--instruction <mode>",
    "the template instruction after each problem: auto (as the model records it was trained; teachers get it), none, template",
  )
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .option("--quiet", "no progress output, and the headline line alone")
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(evalOptionsSchema, flags, "eval");
    const { evaluate, NothingScored } = await import("./evaluate.ts");
    const s = await withFolderLock(options.out, "distill eval", () => evaluate(options)).catch((err) => {
      if (!(err instanceof NothingScored)) throw err;
      // not a usage error: the run went through and could score nothing (as generate, exit 3)
      process.stderr.write(`distill: ${err.message}\n`);
      process.exitCode = 3;
    });
    if (!s) return;
    if (s.missing) {
      // figures over part of the benchmark are not the model's score: say so, and exit as generate does
      process.stderr.write(
        `eval: ${s.missing} samples could not be generated (${s.failed_file}): the figures are over the ${s.n * s.samples} scored; re-run the same command to retry them\n`,
      );
      process.exitCode = 1;
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    process.stdout.write(
      `${s.model} on ${s.benchmark}: accuracy ${pct(s.accuracy)} (pass@${s.samples} ${pct(s.pass_at_k)}), ` +
        `format ${pct(s.format_rate)}, truncated ${pct(s.truncation_rate)}, ${s.mean_tokens} tokens, n=${s.n}\n`,
    );
    if (options.quiet) return; // the headline alone: bands and files are in summary.json
    for (const [band, b] of Object.entries(s.by_band)) {
      process.stdout.write(
        `  ${band.padEnd(14)} accuracy ${pct(b.accuracy).padStart(6)}  format ${pct(b.format_rate).padStart(6)}  n=${b.n}\n`,
      );
    }
    process.stdout.write(`results in ${path.join(options.out, "results.jsonl")} and summary.json\n`);
  });
