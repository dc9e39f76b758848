/**
 * `distill export --format trl`: the path for students too large for the CPU engine. Writes the chat
 * data, a TRL SFT script with its recipe (same chat template, loss on the assistant's tokens, packing,
 * warmup + cosine, distill train's hyperparameters), accelerate configs for DeepSpeed ZeRO-3 and FSDP,
 * and a README with the launch command.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { ModelConfig } from "../model/config.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { hasGenerationMarkers, trainingChatTemplate } from "./chatTemplate.ts";
import { type ChatDataStats, copyChatRows } from "./data.ts";
import type { ResolvedExportOptions } from "./options.ts";

export const sftScriptPath = fileURLToPath(new URL("./sft.py", import.meta.url));

export interface TrlExportSummary {
  files: string[];
  train: ChatDataStats;
  validation: ChatDataStats | null;
  /** How the loss is restricted to the assistant's tokens. */
  lossMask:
    | "assistant-only (template has markers)"
    | "assistant-only (marked ChatML copy)"
    | "completion-only";
  context: number;
  gradientAccumulation: number;
  tokensPerStep: number;
}

export async function exportTrl(
  o: ResolvedExportOptions,
  config: ModelConfig,
  name: string,
): Promise<TrlExportSummary> {
  if (!o.data) throw new UserError("--format trl needs --data <train.jsonl> (Hugging Face chat rows)");
  const tokenizer = loadTokenizer(o.model);
  if (!tokenizer.chatTemplate)
    throw new UserError("the tokenizer has no chat_template: TRL would not know how to render the rows", {
      file: path.join(o.model, "tokenizer_config.json"),
      field: "chat_template",
    });
  const context = Math.min(o.context ?? 4096, config.max_position_embeddings);
  const dataDir = path.join(o.out, "data");
  mkdirSync(dataDir, { recursive: true });
  const files: string[] = [];
  const train = await copyChatRows(o.data, path.join(dataDir, "train.jsonl"), tokenizer, context);
  files.push("data/train.jsonl");
  const validationFile = o.validation ?? siblingValidation(o.data);
  let validation: ChatDataStats | null = null;
  if (validationFile) {
    validation = await copyChatRows(
      validationFile,
      path.join(dataDir, "validation.jsonl"),
      tokenizer,
      context,
    );
    files.push("data/validation.jsonl");
  }

  const marked = trainingChatTemplate(tokenizer.chatTemplate);
  let lossMask: TrlExportSummary["lossMask"] = "completion-only";
  if (marked !== null && !hasGenerationMarkers(tokenizer.chatTemplate)) {
    writeFileSync(path.join(o.out, "chat_template.jinja"), marked);
    files.push("chat_template.jinja");
    lossMask = "assistant-only (marked ChatML copy)";
  } else if (marked !== null) lossMask = "assistant-only (template has markers)";

  copyFileSync(sftScriptPath, path.join(o.out, "sft.py"));
  files.push("sft.py");

  const rowsPerStep = Math.max(1, Math.round(o.batchTokens / context));
  const gradientAccumulation = Math.max(1, Math.round(rowsPerStep / (o.gpus * o.perDeviceBatch)));
  const tokensPerStep = gradientAccumulation * o.gpus * o.perDeviceBatch * context;
  const precision = o.dtype ?? "bf16";
  const recipe = recipeYaml(o, {
    name,
    context,
    gradientAccumulation,
    tokensPerStep,
    precision,
    validation: validation !== null,
    trainingTemplate: lossMask === "assistant-only (marked ChatML copy)" ? "chat_template.jinja" : null,
  });
  writeFileSync(path.join(o.out, "recipe.yaml"), recipe);
  files.push("recipe.yaml");
  const mixed = precision === "f32" ? "no" : precision === "f16" ? "fp16" : "bf16";
  writeFileSync(path.join(o.out, "accelerate_zero3.yaml"), acceleratorYaml("zero3", o.gpus, mixed));
  writeFileSync(path.join(o.out, "accelerate_fsdp.yaml"), acceleratorYaml("fsdp", o.gpus, mixed));
  files.push("accelerate_zero3.yaml", "accelerate_fsdp.yaml");
  const summary: TrlExportSummary = {
    files,
    train,
    validation,
    lossMask,
    context,
    gradientAccumulation,
    tokensPerStep,
  };
  writeFileSync(path.join(o.out, "README.txt"), trlReadme(o, name, summary));
  files.push("README.txt");
  return summary;
}

/** recipe.yaml: this script's arguments, then SFTConfig's; each line says which distill train flag it mirrors. */
function recipeYaml(
  o: ResolvedExportOptions,
  r: {
    name: string;
    context: number;
    gradientAccumulation: number;
    tokensPerStep: number;
    precision: string;
    validation: boolean;
    trainingTemplate: string | null;
  },
): string {
  const line = (key: string, value: unknown, comment?: string) =>
    `${key}: ${yamlValue(value)}${comment ? `  # ${comment}` : ""}`;
  // f16 trains as float32 weights under fp16 autocast (fp16 weights cannot be unscaled by the grad scaler).
  const modelDtype = r.precision === "bf16" ? "bfloat16" : "float32";
  const packed = r.precision === "bf16";
  return [
    `# TRL SFT recipe for ${r.name}, written by distill export --format trl.`,
    "# accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml",
    "# Paths are relative to this folder. Any key can be overridden on the command line (--learning_rate 1e-5).",
    "",
    "# sft.py's own arguments",
    line(
      "model_name_or_path",
      o.baseModel ?? path.resolve(o.model),
      "the student (--base-model, else --model)",
    ),
    line("train_file", "data/train.jsonl"),
    ...(r.validation ? [line("validation_file", "data/validation.jsonl")] : []),
    line(
      "training_chat_template",
      r.trainingTemplate,
      r.trainingTemplate
        ? "the student's template + {% generation %} markers"
        : "none needed or none vouched for",
    ),
    line("model_dtype", modelDtype),
    line(
      "attn_implementation",
      packed ? "flash_attention_2" : "sdpa",
      packed ? "packing without cross-attention needs FlashAttention" : "FlashAttention needs 16-bit weights",
    ),
    line("warmup", o.warmup, "--warmup: steps, or a ratio of all steps below 1"),
    "",
    "# TRL SFTConfig (and transformers TrainingArguments)",
    line("output_dir", "output"),
    line("num_train_epochs", o.epochs, "--epochs"),
    line("learning_rate", o.lr, "--lr (peak)"),
    line("lr_scheduler_type", "cosine_with_min_lr", "warmup, then cosine decay as distill train"),
    line("lr_scheduler_kwargs", { min_lr_rate: o.minLrRatio }, "--min-lr-ratio"),
    line("weight_decay", o.weightDecay, "--weight-decay"),
    line("max_grad_norm", o.maxGradNorm, "--max-grad-norm"),
    line("max_length", r.context, "--context: packed row length"),
    line("packing", packed, packed ? undefined : "packing without FlashAttention would mix examples"),
    line("packing_strategy", "bfd"),
    line("assistant_only_loss", true, "loss on the assistant's tokens only (see sft.py)"),
    line("per_device_train_batch_size", o.perDeviceBatch),
    line(
      "gradient_accumulation_steps",
      r.gradientAccumulation,
      `--batch-tokens: ${r.tokensPerStep} tokens a step on ${o.gpus} GPUs`,
    ),
    line("per_device_eval_batch_size", o.perDeviceBatch),
    line("bf16", r.precision === "bf16"),
    line("fp16", r.precision === "f16"),
    line("gradient_checkpointing", true),
    line("gradient_checkpointing_kwargs", { use_reentrant: false }),
    line("seed", o.seed, "--seed"),
    line("logging_steps", 10),
    line("save_strategy", "epoch"),
    line("eval_strategy", r.validation ? "epoch" : "no", "validation loss each epoch, as distill train"),
    line("report_to", "none"),
    "",
  ].join("\n");
}

/**
 * A value as YAML that PyYAML (YAML 1.1, what TRL's parser uses) reads back with the same type: JSON for
 * strings, booleans, null and flow mappings, and floats always with a dot (PyYAML reads `5e-05` as a string).
 */
export function yamlValue(value: unknown): string {
  if (typeof value === "number") {
    if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
    const text = String(value);
    return text.includes(".") || !/e/i.test(text) ? text : text.replace(/e/i, ".0e");
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${yamlValue(v)}`)
      .join(", ")}}`;
  return JSON.stringify(value);
}

/** accelerate configs as TRL ships them (trl/accelerate_configs/zero3.yaml, fsdp2.yaml), for one node. */
export function acceleratorYaml(kind: "zero3" | "fsdp", gpus: number, mixedPrecision: string): string {
  const common = {
    compute_environment: "LOCAL_MACHINE",
    debug: false,
    downcast_bf16: "no",
    machine_rank: 0,
    main_training_function: "main",
    mixed_precision: mixedPrecision,
    num_machines: 1,
    num_processes: gpus,
    rdzv_backend: "static",
    same_network: true,
    tpu_env: [],
    tpu_use_cluster: false,
    tpu_use_sudo: false,
    use_cpu: false,
  };
  const specific =
    kind === "zero3"
      ? {
          distributed_type: "DEEPSPEED",
          deepspeed_config: {
            deepspeed_multinode_launcher: "standard",
            offload_optimizer_device: "none",
            offload_param_device: "none",
            zero3_init_flag: true,
            zero3_save_16bit_model: true,
            zero_stage: 3,
          },
        }
      : {
          distributed_type: "FSDP",
          enable_cpu_affinity: false,
          fsdp_config: {
            fsdp_activation_checkpointing: false,
            fsdp_auto_wrap_policy: "TRANSFORMER_BASED_WRAP",
            fsdp_cpu_ram_efficient_loading: true,
            fsdp_offload_params: false,
            fsdp_reshard_after_forward: true,
            fsdp_state_dict_type: "FULL_STATE_DICT",
            fsdp_version: 2,
          },
        };
  const header =
    kind === "zero3"
      ? "# DeepSpeed ZeRO-3 on one node; for several: num_machines, machine_rank, main_process_ip/port.\n"
      : "# FSDP2 (accelerate >= 1.7) on one node; gradient checkpointing comes from recipe.yaml.\n";
  // YAML 1.1, as accelerate reads it with PyYAML: "no" must stay quoted or it becomes false.
  return header + stringify({ ...common, ...specific }, { sortMapEntries: true, version: "1.1" });
}

function trlReadme(o: ResolvedExportOptions, name: string, s: TrlExportSummary): string {
  const stats = (label: string, d: ChatDataStats) =>
    `  ${label}: ${d.rows} rows, ${d.tokens} tokens (${d.trainedTokens} trained), longest ${d.longest}` +
    (d.overContext > 0 ? `, ${d.overContext} longer than max_length ${s.context} (truncated)` : "");
  return `Supervised fine-tuning of ${name} with TRL on GPUs (written by distill export --format trl)

Files
  data/train.jsonl         chat rows {"messages": [...]} checked and re-rendered with the student's template
${s.validation ? "  data/validation.jsonl    validation rows (loss each epoch)\n" : ""}  sft.py                   the training script (TRL SFTTrainer; targets TRL >= 0.24, transformers >= 4.56)
  recipe.yaml              its settings: distill train's hyperparameters under TRL's names
${s.files.includes("chat_template.jinja") ? "  chat_template.jinja      the student's chat template with {% generation %} markers (loss mask)\n" : ""}  accelerate_zero3.yaml    DeepSpeed ZeRO-3, ${o.gpus} GPUs on one node
  accelerate_fsdp.yaml     the same with FSDP2

Data
${stats("train", s.train)}
${s.validation ? `${stats("validation", s.validation)}\n` : ""}  loss: ${s.lossMask}
  a step: ${s.gradientAccumulation} accumulation x ${o.gpus} GPUs x ${o.perDeviceBatch} rows x ${s.context} tokens = ${s.tokensPerStep} tokens

Install (a CUDA machine)
  pip install "trl>=0.24" "transformers>=4.56" accelerate datasets deepspeed
  pip install flash-attn --no-build-isolation   # packing without cross-attention; without it sft.py trains unpacked

Check on a CPU first (a few steps: the data, the model and the recipe load and the loss moves; TRL refuses
bf16 without a GPU, so it is switched off, and float32 weights train faster on a CPU)
  pip install "trl>=0.24" "transformers>=4.56" accelerate datasets
  python sft.py --config recipe.yaml --use_cpu true --bf16 false --model_dtype float32 --max_steps 3
  It prints "train: N rows, T tokens, K carry loss"; K is the trained-token count above.

Launch (from any folder; paths in recipe.yaml are relative to this one)
  accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml
  accelerate launch --config_file accelerate_fsdp.yaml sft.py --config recipe.yaml         # FSDP instead
  accelerate launch --config_file accelerate_zero3.yaml --num_processes 1 sft.py --config recipe.yaml  # one GPU
  Several nodes: add --num_machines N --machine_rank i --main_process_ip HOST --main_process_port 29500
  (and --num_processes = all GPUs) on each node.
  Override any setting: ... sft.py --config recipe.yaml --learning_rate 1e-5 --num_train_epochs 3

The student loaded is model_name_or_path in recipe.yaml (${o.baseModel ?? path.resolve(o.model)}); the
trained model lands in output/ as a Hugging Face folder with the student's own chat template. From there:
  npx distill eval --model output --benchmark ...
  npx distill export --model output --format gguf --out gguf
`;
}

function siblingValidation(data: string): string | undefined {
  const candidate = path.join(path.dirname(data), "validation.jsonl");
  return path.resolve(candidate) !== path.resolve(data) && existsSync(candidate) ? candidate : undefined;
}
