import { Command, Option } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { generate } from "./generate.ts";
import { generateOptionsSchema } from "./options.ts";

export const generateCommand = new Command("generate")
  .description("sample candidates from a teacher in the template → <out>/generations.jsonl (resumable)")
  .option(
    "--prompts <source>",
    "builtin:equations[?count=&seed=&difficulty=&split=], builtin:general, jsonl:<path>, gsm8k:<train|test|path>, math500:…, aime:…, mawps:…",
  )
  .option(
    "--teacher <spec>",
    "builtin:equations, builtin:general, openai:<model>@<base-url>[,<base-url>…] (several endpoints), gguf:<path>",
  )
  .option("--out <dir>", "run folder (re-run the same command to resume)")
  .option("--samples-per-prompt <n>", "candidates a prompt (default 4)")
  .option("--limit <k>", "use only the first k prompts")
  .option("--temperature <t>", "sampling temperature (default 0.6)")
  .option("--top-p <p>", "nucleus sampling (default 0.95)")
  .option("--max-tokens <m>", "completion token limit (default 4096)")
  .option(
    "--concurrency <c>",
    "requests in flight in all (default: the endpoints' concurrencies added up, else 8)",
  )
  .option("--endpoint-concurrency <c>", "most requests in flight at each endpoint (adapts down on 429/503)")
  .option(
    "--threads <n>",
    "CPU threads of a gguf: teacher's llama.cpp (default: the cores available less one)",
  )
  .option("--requests-per-minute <n>", "rate limit of each endpoint")
  .option("--tokens-per-minute <n>", "prompt + completion tokens a minute, each endpoint")
  .option("--seed <s>", "run seed; each candidate's seed derives from it (default 0)")
  .option("--max-attempts <n>", "tries per candidate before it is recorded as failed (default 6)")
  .option("--api-key-env <name>", "environment variable holding the API key (default OPENAI_API_KEY)")
  .option("--stream", "stream responses from OpenAI-compatible teachers")
  .option(
    "--request-timeout <s>",
    "hard deadline of one request in seconds; past it the request is retried (default 600)",
  )
  .option("--stall-timeout <s>", "a stream silent this many seconds is aborted and retried (default 60)")
  .option(
    "--max-tokens-total <n>",
    "stop issuing requests at this many prompt + completion tokens (this folder, all runs)",
  )
  .option("--max-cost <usd>", "stop issuing requests at this many US dollars (needs prices: in the recipe)")
  .option("--grace <s>", "on Ctrl-C/SIGTERM, seconds to wait for requests in flight (default 30)")
  .option("--shard <i/n>", "generate only the i-th of n disjoint parts of the prompts (by hash of prompt id)")
  .option(
    "--new-params",
    "resume this folder with changed settings as a new configuration, in files of its own",
  )
  .option("--prompt-field <name>", "jsonl: field holding the prompt")
  .option("--answer-field <name>", "jsonl: field holding the gold answer")
  .option("--id-field <name>", "jsonl: field holding a stable prompt id")
  .option(
    "--instruction <mode>",
    "the template instruction after each problem: auto (as the model records it was trained; teachers get it), none, template",
  )
  .option(
    "--logprobs <k>",
    "record each token's log-probability and its k most likely alternatives (0–20) in logprobs.jsonl beside the generations",
  )
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .addOption(new Option("--quiet", "no progress output"))
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(generateOptionsSchema, flags, "generate");
    // first signal: stop issuing, let requests in flight finish (--grace), write, summarise; second: exit now
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop.signal.aborted) process.exit(exitCodes[signal] ?? 1);
      process.stderr.write(
        `generate: ${signal}: no new requests; waiting up to ${options.grace} s for those in flight (${signal} again exits now)\n`,
      );
      stop.abort(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const s = await withFolderLock(options.out, "distill generate", () =>
      generate(options, { signal: stop.signal }),
    );
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    const cost = s.spent.cost === undefined ? "" : ` ($${s.spent.cost.toFixed(4)})`;
    process.stderr.write(
      `generate: ${s.candidates} candidates in ${s.file} (${s.written} new, ${s.resumed} resumed, ` +
        `${s.failed} failed, ${s.retries} retries) | ${s.completionTokens} completion tokens | ` +
        `${s.seconds.toFixed(1)} s | ${s.samplesPerSecond.toFixed(1)} samples/s | ` +
        `spent ${(s.spent.promptTokens + s.spent.completionTokens).toLocaleString("en-US")} tokens${cost} in all\n`,
    );
    const errors = Object.entries(s.errors).sort(([, a], [, b]) => b - a);
    if (errors.length > 0) {
      const list = errors.map(([cause, n]) => `${cause} ${n}`).join(", ");
      process.stderr.write(
        `generate: failed attempts by cause: ${list} (candidates that ran out of attempts are in ${s.failedFile})\n`,
      );
    }
    for (const e of s.endpoints ?? []) {
      process.stderr.write(
        `  ${e.id}: ${e.successes}/${e.requests} ok, window ${e.window}, ${e.backoffs} backoffs, ${e.pauses} pauses\n`,
      );
    }
    if (s.stopped === "budget") {
      process.stderr.write(
        `generate: stopped at the budget with ${s.remaining + s.abandoned} candidates to go; raise --max-tokens-total/--max-cost and re-run to continue\n`,
      );
    } else if (s.stopped === "unreachable") {
      process.stderr.write(
        `generate: ${s.stopReason}; stopped with ${s.remaining + s.abandoned} candidates to go; re-run the same command once it is up\n`,
      );
      process.exitCode = exitCodes.unreachable;
      return;
    } else if (s.stopped) {
      process.stderr.write(
        `generate: stopped by ${s.stopped} with ${s.remaining + s.abandoned} candidates to go; re-run the same command to continue\n`,
      );
      process.exitCode = exitCodes[s.stopped] ?? 1;
      return;
    }
    if (s.failed > 0) process.exitCode = 1;
  });

/** 128 + the signal's number, as shells report a process ended by it; 3 when no endpoint could be reached. */
const exitCodes: Record<string, number> = { SIGINT: 130, SIGTERM: 143, unreachable: 3 };
