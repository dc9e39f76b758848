#!/usr/bin/env python3
"""The PyTorch side of `npm run bench:train -- --shape …`: transformers' own model fine-tuned on the batch
the engine trains on, in a process of its own so its peak memory is its own.

Reads a JSON job on stdin, prints one JSON line:
  {"model": DIR, "tokens": [[ids] * B], "labels": [[ids or -100] * B], "mode": "full" | "lora",
   "warmup": N, "steps": N, "threads": N, "lr": LR, "lora": {"r", "alpha", "targets"}}
  -> {"tok_s", "step_s", "peak_rss_mb", "loss_first", "loss_last", "attn", "torch", "trainable"}

The model is float32 (as the engine computes) with the best attention implementation transformers
offers on a CPU (SDPA); AdamW with torch's defaults, no decay on norms and biases (as distill train),
gradient clipping at 1. LoRA through peft, base weights frozen. tokens/s counts every token of the batch.
"""

import json
import resource
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def build(job: dict) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    if job["mode"] == "lora":
        from peft import LoraConfig, get_peft_model

        lora = job["lora"]
        config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=0.0, target_modules=lora["targets"])
        model = get_peft_model(model, config)
    return model.train()


def optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = lambda n: n.endswith("norm.weight") or n.endswith(".bias")  # noqa: E731
    groups = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": 0.1},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def main() -> None:
    job = json.load(sys.stdin)
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    model = build(job)
    opt = optimizer(model, job["lr"])
    params = [p for p in model.parameters() if p.requires_grad]
    tokens, labels = torch.tensor(job["tokens"]), torch.tensor(job["labels"])

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=tokens, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    losses, times = [], []
    for i in range(job["warmup"] + job["steps"]):
        t0 = time.perf_counter()
        losses.append(step())
        if i >= job["warmup"]:
            times.append(time.perf_counter() - t0)
        print(f"pytorch {job['mode']} step {i + 1}: {time.perf_counter() - t0:.1f} s, loss {losses[-1]:.4f}", file=sys.stderr)
    result = {
        "tok_s": tokens.numel() * len(times) / sum(times),
        "step_s": sum(times) / len(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "attn": model.config._attn_implementation if hasattr(model.config, "_attn_implementation") else None,
        "torch": torch.__version__,
        "trainable": sum(p.numel() for p in params),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
