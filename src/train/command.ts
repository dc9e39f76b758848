import { Command } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { UserError } from "../util/errors.ts";
import { withFolderLock } from "../util/lock.ts";
import { refuseTrainedOut, trainOptionsSchema } from "./options.ts";

export const trainCommand = new Command("train")
  .description(
    "supervised fine-tuning of a student on chat rows (loss on the assistant's tokens; --kd topk: on the teacher's probabilities too; --on-policy: on its own answers, graded by the teacher) → <out>/ (HF folder)",
  )
  .option(
    "--data <train.jsonl>",
    'Hugging Face chat rows: {"messages": [...]} a line, the last one the assistant\'s',
  )
  .option("--validation <file.jsonl>", "validation rows (default: validation.jsonl beside --data, if any)")
  .option(
    "--init <model>",
    "a Hugging Face model folder (qwen2/qwen3/llama) or new:<1m|5m|25m|100m>[?arch=&vocab=&context=]",
  )
  .option("--out <dir>", "output folder: the trained model, metrics.jsonl, checkpoint/")
  .option("--epochs <n>", "passes over the data (default 2)")
  .option("--lr <rate>", "peak learning rate (default 1e-3 new, 5e-5 pretrained)")
  .option("--warmup <steps|ratio>", "warmup steps, or a ratio of all steps when below 1 (default 0.05)")
  .option("--batch-tokens <n>", "tokens a step (default 8192)")
  .option("--micro-batch-tokens <n>", "tokens a forward/backward pass, for memory (default: the whole step)")
  .option("--context <n>", "packed row length in tokens (default 512)")
  .option("--weight-decay <w>", "AdamW weight decay (default 0.1; none on norms and biases)")
  .option("--seed <s>", "seed of the initial weights and the data order (default 0)")
  .option("--checkpoint-every <steps>", "checkpoint interval (default 200; epochs always end with one)")
  .option("--tokenizer <dir>", "for new models: use this tokenizer instead of training one on the data")
  .option("--tokenizer-corpus <files...>", "for new models: more chat JSONL for the tokenizer to learn from")
  .option("--max-steps <n>", "stop after n steps")
  .option("--resume", "continue from <out>/checkpoint exactly where it stopped")
  .option("--overwrite", "train from the start into an --out that already holds a trained model")
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .option(
    "--lora [spec]",
    "train LoRA adapters on the frozen --init model, written as a PEFT adapter folder: " +
      "r=16,alpha=32,dropout=0,targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (these are the defaults)",
  )
  .option(
    "--checkpoint-activations [layers]",
    "keep only a decoder layer's input and recompute its activations in backward, for every layer or the first <layers>: less memory for one more forward of each (about a third more compute a step for all)",
  )
  .option(
    "--optimizer-state <dtype>",
    "float32 (default, as torch's AdamW) or bfloat16: AdamW's moments kept in bfloat16 with stochastic rounding, half the optimizer's memory (2 GB less for a 0.5B student)",
  )
  .option(
    "--kd <kind>",
    "topk: learn from the teacher's top-K distribution at each assistant token too (needs --teacher-logprobs)",
  )
  .option("--kd-alpha <a>", "with --kd: weight of the cross-entropy; 1 − a goes to the KL (default 0.5)")
  .option("--kd-temperature <t>", "with --kd: temperature of the KL (default 1)")
  .option(
    "--teacher-logprobs <files...>",
    "with --kd: the logprobs.jsonl files (or their generate folders) of `distill generate --logprobs` the rows came from",
  )
  .option(
    "--on-policy",
    "on-policy distillation: the student answers --prompts, --teacher scores each of its tokens, the student minimises the reverse KL to the teacher's top-K",
  )
  .option(
    "--teacher <spec>",
    "with --on-policy: a model folder, or openai:<model>@<url> of a server that scores (vLLM, distill serve)",
  )
  .option("--prompts <source>", "with --on-policy: the prompts the student answers (as generate takes them)")
  .option("--prompts-per-step <n>", "with --on-policy: answers a step (default 8)")
  .option("--max-tokens <n>", "with --on-policy: most tokens an answer (default 256)")
  .option("--temperature <t>", "with --on-policy: the student's sampling temperature (default 1)")
  .option(
    "--kd-top-k <k>",
    "with --on-policy: alternatives a token the teacher is asked for (0–20, default 20)",
  )
  .option(
    "--on-policy-share <λ>",
    "with --on-policy: the share of steps that are on-policy; the rest are supervised on --data (default 1)",
  )
  .option("--quiet", "no progress output")
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(trainOptionsSchema, flags, "train");
    if (options.resume && options.overwrite)
      throw new UserError("--resume and --overwrite contradict each other: choose one");
    const { train } = await import("./train.ts");
    let stopping = false;
    process.once("SIGINT", () => {
      stopping = true;
      process.stderr.write(
        "\ntrain: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n",
      );
      process.once("SIGINT", () => process.exit(130));
    });
    const s = await withFolderLock(options.out, "distill train", async () => {
      refuseTrainedOut(options);
      return train(options, { shouldStop: () => stopping });
    });
    process.stderr.write(
      `train: ${s.params.toLocaleString("en")} parameters, ${s.steps} steps, loss ${s.finalLoss.toFixed(4)}` +
        `${s.validationLoss === null ? "" : `, validation ${s.validationLoss.toFixed(4)}`} | ${s.tokensPerSecond} tokens/s | ` +
        `${s.seconds.toFixed(0)} s → ${s.out}\n`,
    );
    if (stopping) process.exitCode = 130;
  });
