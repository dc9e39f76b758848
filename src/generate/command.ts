import { Command, Option } from "commander";
import { resolveOptions } from "../config/recipe.ts";
import { generate } from "./generate.ts";
import { generateOptionsSchema } from "./options.ts";

export const generateCommand = new Command("generate")
  .description("sample candidates from a teacher in the template → <out>/generations.jsonl (resumable)")
  .option(
    "--prompts <source>",
    "builtin:equations[?count=&seed=&difficulty=&split=], builtin:general, jsonl:<path>, gsm8k:<train|test|path>, math500:…, aime:…, mawps:…",
  )
  .option("--teacher <spec>", "builtin:equations, builtin:general, openai:<model>@<base-url>, gguf:<path>")
  .option("--out <dir>", "run folder (re-run the same command to resume)")
  .option("--samples-per-prompt <n>", "candidates a prompt (default 4)")
  .option("--limit <k>", "use only the first k prompts")
  .option("--temperature <t>", "sampling temperature (default 0.6)")
  .option("--top-p <p>", "nucleus sampling (default 0.95)")
  .option("--max-tokens <m>", "completion token limit (default 4096)")
  .option("--concurrency <c>", "requests in flight (default 8)")
  .option("--seed <s>", "run seed; each candidate's seed derives from it (default 0)")
  .option("--max-attempts <n>", "tries per candidate before it is recorded as failed (default 6)")
  .option("--api-key-env <name>", "environment variable holding the API key (default OPENAI_API_KEY)")
  .option("--stream", "stream responses from OpenAI-compatible teachers")
  .option("--prompt-field <name>", "jsonl: field holding the prompt")
  .option("--answer-field <name>", "jsonl: field holding the gold answer")
  .option("--id-field <name>", "jsonl: field holding a stable prompt id")
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .addOption(new Option("--quiet", "no progress output"))
  .action(async (flags: Record<string, unknown>) => {
    const { recipe, ...rest } = flags;
    const options = resolveOptions(
      generateOptionsSchema,
      rest,
      recipe ? { file: String(recipe), stage: "generate" } : undefined,
    );
    const s = await generate(options);
    process.stderr.write(
      `generate: ${s.candidates} candidates in ${s.out}/generations.jsonl (${s.written} new, ${s.resumed} resumed, ` +
        `${s.failed} failed, ${s.retries} retries) | ${s.completionTokens} completion tokens | ` +
        `${s.seconds.toFixed(1)} s | ${s.samplesPerSecond.toFixed(1)} samples/s\n`,
    );
    if (s.failed > 0) process.exitCode = 1;
  });
