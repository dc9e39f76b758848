#!/usr/bin/env python3
"""Supervised fine-tuning of a distillery student with TRL, on GPUs.

Written by `distill export --format trl` next to recipe.yaml, data/ and the accelerate configs.

Targets TRL >= 0.24 with transformers >= 4.56 (TRL 0.24's own floor); the SFTConfig fields used
were checked against TRL's sources from v0.24.0 to v1.9.0, and the transformers 4.x / 5.x split
(warmup_ratio was removed in 5.2) is handled below. Launch, from this folder or anywhere:

    accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml

Every field of recipe.yaml can be overridden on the command line (`--learning_rate 1e-5`).

What it does, mirroring `distill train`:
  - loss on the assistant's tokens only: `assistant_only_loss=True` with a chat template that marks the
    assistant's output with {% generation %} (chat_template.jinja: the student's template plus the
    markers, rendering the same text). Where no marked template is available, the rows become
    prompt-completion pairs (prompt = every message but the last) with `completion_only_loss=True`:
    the loss is then on what the conversation adds after the prompt rendered with the generation
    prompt, the same split distill train makes.
  - packing (best-fit decreasing) without attention across examples: that needs a FlashAttention
    implementation; without flash-attn installed the script says so and trains unpacked instead.
  - AdamW, linear warmup then cosine decay to min_lr_rate x the peak, gradient clipping, bf16.
The model is saved with the student's own chat template (without the training markers).
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
        log("no chat template with {% generation %} markers: prompt-completion rows, completion-only loss")
        dataset = dataset.map(
            lambda row: {"prompt": row["messages"][:-1], "completion": row["messages"][-1:]},
            remove_columns=["messages"],
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
    log(f"saved to {training_args.output_dir}")


if __name__ == "__main__":
    main()
