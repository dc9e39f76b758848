import { Command } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { exportOptionsSchema } from "./options.ts";

export const exportCommand = new Command("export")
  .description(
    "export a student (HF folder) → gguf (llama.cpp + Ollama Modelfile) | safetensors (transformers/vLLM) | trl (data + TRL SFT recipe for GPUs)",
  )
  .option("--model <dir>", "a Hugging Face model folder, e.g. what distill train wrote")
  .option("--format <format>", "gguf, safetensors or trl")
  .option("--out <dir>", "output folder")
  .option(
    "--dtype <dtype>",
    "gguf: f32|f16|q8_0|q4_0|q4_k_m (default f16; q* by llama.cpp's quantizer); safetensors: f32|bf16 (default bf16); trl: training precision (default bf16)",
  )
  .option("--name <name>", "model name in the GGUF and READMEs (default: the folder's name)")
  .option("--max-shard-size <size>", "safetensors: shard above this size (default 5GB)")
  .option("--data <train.jsonl>", "trl: Hugging Face chat rows to train on")
  .option(
    "--validation <file.jsonl>",
    "trl: validation rows (default: validation.jsonl beside --data, if any)",
  )
  .option("--base-model <id or path>", "trl: what the GPU machines load (default: --model's absolute path)")
  .option("--epochs <n>", "trl: passes over the data (default 2)")
  .option("--lr <rate>", "trl: peak learning rate (default 5e-5)")
  .option("--min-lr-ratio <r>", "trl: cosine decays to lr × r (default 0.1)")
  .option("--warmup <steps|ratio>", "trl: warmup steps, or a ratio of all steps below 1 (default 0.05)")
  .option("--weight-decay <w>", "trl: AdamW weight decay (default 0.1)")
  .option("--max-grad-norm <n>", "trl: gradient clipping (default 1)")
  .option("--batch-tokens <n>", "trl: tokens a step over all GPUs (default 131072)")
  .option("--context <n>", "trl: packed row length, TRL's max_length (default 4096, capped by the model)")
  .option("--seed <s>", "trl: seed (default 0)")
  .option("--gpus <n>", "trl: GPUs a node, accelerate's num_processes (default 8)")
  .option("--per-device-batch <n>", "trl: packed rows a GPU a micro-step (default 1)")
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .option(
    "--merge-lora",
    "--model is a LoRA adapter folder (distill train --lora): export its base model with the adapter merged in",
  )
  .option("--quiet", "no summary line")
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(exportOptionsSchema, flags, "export");
    const { exportModel } = await import("./export.ts");
    const s = await withFolderLock(options.out, "distill export", () => exportModel(options));
    if (options.quiet) return;
    let detail = "";
    if (s.format === "gguf") detail = `${s.gguf.dtype.toUpperCase()}, ${(s.gguf.bytes / 1e6).toFixed(1)} MB`;
    if (s.format === "safetensors")
      detail = `${s.safetensors.dtype.toUpperCase()}, ${s.safetensors.shards} shard(s)`;
    if (s.format === "trl")
      detail = `${s.trl.train.rows} train rows${s.trl.validation ? ` + ${s.trl.validation.rows} validation` : ""}, loss ${s.trl.lossMask}`;
    process.stderr.write(`export: ${s.format} (${detail}) → ${s.out}/{${s.files.join(",")}}\n`);
    if (s.format === "trl")
      process.stderr.write(
        `export: launch with: cd ${s.out} && accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml\n`,
      );
  });
