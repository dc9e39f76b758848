#!/usr/bin/env python3
"""Supervised fine-tuning of a distillery student with TRL, on GPUs.

Written by `distill export --format trl` next to recipe.yaml, data/ and the accelerate configs.

Targets TRL >= 0.24 with transformers >= 4.56 (TRL 0.24's own floor); the SFTConfig fields used
were checked against TRL's sources from v0.24.0 to v1.13.0, and the transformers 4.x / 5.x split
(warmup_ratio was removed in 5.2) is handled below. distillery's tests run it end to end on a CPU
under TRL 1.13 / transformers 5.18 / PyTorch 2.13 (test/reference/trl.test.ts). Launch, from this
folder or anywhere:

    accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml

A smoke run on a CPU first (TRL refuses bf16 without a GPU; float32 weights train faster there):

    python sft.py --config recipe.yaml --use_cpu true --bf16 false --model_dtype float32 --max_steps 3

Every field of recipe.yaml can be overridden on the command line (`--learning_rate 1e-5`).

What it does, mirroring `distill train`:
  - loss on the assistant's tokens only: `assistant_only_loss=True` with a chat template that marks the
    assistant's output with {% generation %} (chat_template.jinja: the student's template plus the
    markers, rendering the same text). Where no marked template is available, the rows become
    tokenized here as distill train tokenizes them and trained with `completion_only_loss=True`: the
    loss is on what the conversation adds after the prompt rendered with the generation prompt, up to
    and including the end-of-turn token, the same tokens distill train trains.
  - packing (best-fit decreasing) without attention across examples: that needs a FlashAttention
    implementation; without flash-attn installed the script says so and trains unpacked instead.
  - AdamW, linear warmup then cosine decay to min_lr_rate x the peak, gradient clipping, bf16.
The model is saved with the student's own chat template (without the training markers), and the
trainer's state (trainer_state.json: the logged losses) beside it.
"""

import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

import torch
import transformers
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.trainer_utils import get_last_checkpoint
from trl import SFTConfig, SFTTrainer, TrlParser

GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class DistillArguments:
    """Arguments of this script that are not TRL's (the rest of recipe.yaml is SFTConfig)."""

    model_name_or_path: str = field(metadata={"help": "Hugging Face id or folder of the student to train."})
    train_file: str = field(default="data/train.jsonl", metadata={"help": "Chat rows (JSON Lines)."})
    validation_file: Optional[str] = field(default=None, metadata={"help": "Validation chat rows."})
    training_chat_template: Optional[str] = field(
        default="chat_template.jinja",
        metadata={"help": "Jinja file: the student's template with {% generation %} markers."},
    )
    warmup: float = field(
        default=0.05, metadata={"help": "Warmup steps, or a ratio of all steps below 1 (distill train --warmup)."}
    )
    model_dtype: str = field(default="bfloat16", metadata={"help": "dtype the weights are loaded in."})
    attn_implementation: Optional[str] = field(
        default="flash_attention_2", metadata={"help": "flash_attention_2, sdpa or eager."}
    )


def resolve(path: Optional[str]) -> Optional[str]:
    """Paths in recipe.yaml are relative to this folder, wherever the launch happens."""
    return path if path is None or os.path.isabs(path) else os.path.join(HERE, path)


def log(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"[distill sft] {message}", file=sys.stderr, flush=True)


def set_warmup(training_args: SFTConfig, warmup: float) -> None:
    """transformers 5 reads a float warmup_steps below 1 as a ratio; 4.x needs warmup_ratio for that."""
    if warmup >= 1:
        training_args.warmup_steps = int(warmup)
    elif int(transformers.__version__.split(".")[0]) >= 5:
        training_args.warmup_steps = warmup
    else:
        training_args.warmup_ratio = warmup


def tokenize_like_distill_train(row: dict, tokenizer) -> dict:
    """input_ids and completion_mask of a chat as distill train makes them (src/train/data.ts).

    The prompt is every message but the last, rendered with the generation prompt; the trained part is
    what the whole conversation's tokens add after it, up to and including the end-of-turn token: the
    newline a ChatML template writes after <|im_end|> is cut, where TRL's prompt-completion rows would
    train on it too.
    """
    messages = row["messages"]
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    start = 0  # BPE may merge across the boundary: training starts where the two tokenizations part
    while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
        start += 1
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    end = len(ids)
    if eos in ids[start:]:
        end = len(ids) - ids[::-1].index(eos)
    return {"input_ids": ids[:end], "completion_mask": [0] * start + [1] * (end - start)}


def loss_tokens(dataset) -> tuple[int, int, int]:
    """Rows, tokens and tokens that carry loss of a prepared dataset, as distill train counts them.

    TRL >= 1.x writes a "labels" column (-100 where no loss); earlier versions keep the mask columns
    and build labels in the collator. The first token of a row is a prompt token, never trained, so
    counting the mask counts the targets the loss is taken on.
    """
    columns = dataset.column_names
    mask_columns = [c for c in ("completion_mask", "assistant_masks") if c in columns]
    rows = tokens = trained = 0
    for row in dataset:
        rows += 1
        tokens += len(row["input_ids"])
        if "labels" in columns:
            trained += sum(1 for label in row["labels"] if label != -100)
        elif mask_columns:
            trained += sum(1 for bits in zip(*(row[c] for c in mask_columns)) if all(bits))
        else:
            trained += len(row["input_ids"])
    return rows, tokens, trained


def main() -> None:
    parser = TrlParser((DistillArguments, SFTConfig))
    args, training_args = parser.parse_args_and_config()
    training_args.output_dir = resolve(training_args.output_dir)
    set_warmup(training_args, args.warmup)

    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    inference_template = tokenizer.chat_template
    files = {"train": resolve(args.train_file)}
    if args.validation_file:
        files["validation"] = resolve(args.validation_file)
    dataset = load_dataset("json", data_files=files)
    # Only the conversations are needed; other columns would be carried through tokenization.
    dataset = dataset.select_columns(["messages"])

    template_file = resolve(args.training_chat_template)
    if inference_template and GENERATION_TAG.search(inference_template):
        log("the tokenizer's chat template marks the assistant's output: assistant-only loss")
    elif template_file and os.path.isfile(template_file):
        with open(template_file, encoding="utf-8") as f:
            tokenizer.chat_template = f.read()
        log(f"training chat template {template_file}: assistant-only loss")
    elif training_args.assistant_only_loss:
        log("no chat template with {% generation %} markers: rows tokenized as distill train does, completion-only loss")
        dataset = dataset.map(
            tokenize_like_distill_train, fn_kwargs={"tokenizer": tokenizer}, remove_columns=["messages"]
        )
        training_args.assistant_only_loss = False
        training_args.completion_only_loss = True

    attn = args.attn_implementation
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        # Packing without FlashAttention would let packed examples attend to each other.
        log("flash-attn is not installed: sdpa attention, packing off (pip install flash-attn to pack)")
        attn = "sdpa"
        training_args.packing = False
        training_args.padding_free = False
    model = AutoModelForCausalLM.from_pretrained(
        args.model_name_or_path, dtype=getattr(torch, args.model_dtype), attn_implementation=attn
    )
    if training_args.gradient_checkpointing:
        model.config.use_cache = False

    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"] if "validation" in dataset else None,
        processing_class=tokenizer,
    )
    rows, tokens, trained = loss_tokens(trainer.train_dataset)
    log(f"train: {rows} rows, {tokens} tokens, {trained} carry loss (README.txt counts the same)")
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None and os.path.isdir(training_args.output_dir):
        checkpoint = get_last_checkpoint(training_args.output_dir)
    if checkpoint is not None:
        log(f"resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)

    # The saved tokenizer (the trainer saves its processing_class) keeps the student's own template:
    # inference never sees the training markers.
    tokenizer.chat_template = inference_template
    trainer.model.config.use_cache = True
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    log(f"saved to {training_args.output_dir}")


if __name__ == "__main__":
    main()
