#!/usr/bin/env python3
"""A Hugging Face checkpoint written by transformers itself, with random weights, for the parity tests.

    make_checkpoint.py --arch qwen2|qwen3|llama --out DIR [--layers N] [--dtype float32|bfloat16]
                       [--seed S] [--set key=JSON ...] --tokenizer DIR

Shapes are the published configs: Qwen/Qwen2.5-0.5B (qwen2), Qwen/Qwen3-0.6B (qwen3), and for llama
meta-llama/Llama-3.2-1B's attention and Llama-3 `rope_scaling` at a smaller width (its vocabulary is the
Qwen tokenizer's, since that is the tokenizer shipped here). `--layers` keeps the first N layers; `--set`
overrides any other config field (`--set hidden_size=64`). Weights come from
`AutoModelForCausalLM.from_config` (transformers' own initialisation), then norms and biases are moved
off their 1 / 0 initial values so a mistake in either shows in the logits. Saved with `save_pretrained`,
next to the real Qwen tokenizer files and its chat template. Prints the folder's config.json.
"""

import argparse
import json
import os
import shutil

import torch
from transformers import AutoConfig, AutoModelForCausalLM

# config.json of Qwen/Qwen2.5-0.5B, as published.
QWEN2 = dict(
    architectures=["Qwen2ForCausalLM"],
    attention_dropout=0.0,
    bos_token_id=151643,
    eos_token_id=151643,
    hidden_act="silu",
    hidden_size=896,
    initializer_range=0.02,
    intermediate_size=4864,
    max_position_embeddings=32768,
    max_window_layers=24,
    num_attention_heads=14,
    num_hidden_layers=24,
    num_key_value_heads=2,
    rms_norm_eps=1e-06,
    rope_theta=1000000.0,
    sliding_window=32768,
    tie_word_embeddings=True,
    use_cache=True,
    use_sliding_window=False,
    vocab_size=151936,
)

# config.json of Qwen/Qwen3-0.6B, as published.
QWEN3 = dict(
    architectures=["Qwen3ForCausalLM"],
    attention_bias=False,
    attention_dropout=0.0,
    bos_token_id=151643,
    eos_token_id=151645,
    head_dim=128,
    hidden_act="silu",
    hidden_size=1024,
    initializer_range=0.02,
    intermediate_size=3072,
    max_position_embeddings=40960,
    max_window_layers=28,
    num_attention_heads=16,
    num_hidden_layers=28,
    num_key_value_heads=8,
    rms_norm_eps=1e-06,
    rope_scaling=None,
    rope_theta=1000000,
    sliding_window=None,
    tie_word_embeddings=True,
    use_cache=True,
    use_sliding_window=False,
    vocab_size=151936,
)

# Llama-3.2-1B's head layout (head_dim 64, 4 query heads a KV head) and rope (theta 500,000, llama3
# scaling), at width 512 with an untied head, so both the scaling and a separate lm_head are exercised.
LLAMA = dict(
    architectures=["LlamaForCausalLM"],
    attention_bias=False,
    bos_token_id=151643,
    eos_token_id=151645,
    head_dim=64,
    hidden_act="silu",
    hidden_size=512,
    initializer_range=0.02,
    intermediate_size=2048,
    max_position_embeddings=131072,
    mlp_bias=False,
    num_attention_heads=8,
    num_hidden_layers=16,
    num_key_value_heads=2,
    rms_norm_eps=1e-05,
    rope_scaling=dict(
        factor=32.0,
        high_freq_factor=4.0,
        low_freq_factor=1.0,
        original_max_position_embeddings=8192,
        rope_type="llama3",
    ),
    rope_theta=500000.0,
    tie_word_embeddings=False,
    vocab_size=151936,
)

PRESETS = {"qwen2": QWEN2, "qwen3": QWEN3, "llama": LLAMA}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(PRESETS), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tokenizer", required=True, help="folder with tokenizer.json and tokenizer_config.json")
    p.add_argument("--layers", type=int, default=None, help="num_hidden_layers (default: the published count)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config field")
    return p.parse_args()


def perturb_norms_and_biases(model: torch.nn.Module, seed: int) -> None:
    """RMSNorm weights 1 + N(0, 0.1²) and biases N(0, 0.02²): a swapped or skipped one then changes the output."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))


def main() -> None:
    args = parse_args()
    fields = dict(PRESETS[args.arch])
    if args.layers is not None:
        fields["num_hidden_layers"] = args.layers
        fields["max_window_layers"] = min(fields.get("max_window_layers", args.layers), args.layers)
    for item in args.set:
        key, _, value = item.partition("=")
        fields[key] = json.loads(value)
    config = AutoConfig.for_model(args.arch, **fields)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    perturb_norms_and_biases(model, args.seed)
    model.to(getattr(torch, args.dtype)).save_pretrained(args.out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "config.json"), encoding="utf-8") as f:
        print(f.read())


if __name__ == "__main__":
    main()
