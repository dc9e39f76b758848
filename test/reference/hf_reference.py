#!/usr/bin/env python3
"""transformers' own model as the reference of the parity tests (reference.ts runs this).

Reads a JSON job on stdin and answers on stdout with one JSON line; tensors go to a safetensors file.

  {"task": "logits", "model": DIR, "tokens": [[ids], ...], "out": FILE}
      -> FILE holds "logits" (B, T, V) in float32; stdout {"shape": [B, T, V]}
      with "unscaled_rope": true, also "unscaled": the same with the checkpoint's rope scaling dropped
      (plain RoPE at its theta), so a test can show the scaling moves the logits by more than its bound
  {"task": "train", "model": DIR, "tokens": [[ids], ...], "labels": [[ids or -100], ...], "steps": N,
   "optim": {"lr", "beta1", "beta2", "eps", "weightDecay", "clip"}, "out": FILE}
      -> N steps of torch.optim.AdamW (no weight decay on norms and biases, as the HF Trainer and distill
         train do) with clip_grad_norm_ on the same batch, the loss being the model's
         own causal-LM loss (labels shifted inside, -100 ignored, mean over the rest); FILE holds every
         parameter's gradient of the first step, by Hugging Face name; stdout {"losses": [...]}
  {"task": "generate", "model": DIR, "prompt": [ids], "max_new_tokens": N, "stop": [ids]}
      -> greedy decoding until a stop id (kept) or N new tokens; stdout {"tokens": [new ids]}

The model is loaded in float32 whatever the checkpoint's dtype, as the TypeScript decoders compute.
"""

import json
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM


def load(path: str) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def logits(job: dict) -> dict:
    model = load(job["model"]).eval()
    tokens = torch.tensor(job["tokens"])
    with torch.no_grad():
        out = {"logits": model(tokens).logits.contiguous()}
        if job.get("unscaled_rope"):
            config = AutoConfig.from_pretrained(job["model"])
            config.rope_parameters = {"rope_type": "default", "rope_theta": config.rope_parameters["rope_theta"]}
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
            plain.load_state_dict(model.state_dict())
            out["unscaled"] = plain(tokens).logits.contiguous()
    save_file(out, job["out"])
    return {"shape": list(out["logits"].shape)}


def train(job: dict) -> dict:
    model = load(job["model"]).train()
    o = job["optim"]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    no_decay = [p for n, p in named if n.endswith("norm.weight") or n.endswith(".bias")]
    decay = [p for n, p in named if not (n.endswith("norm.weight") or n.endswith(".bias"))]
    groups = [{"params": decay, "weight_decay": o["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    tokens, labels = torch.tensor(job["tokens"]), torch.tensor(job["labels"])
    losses = []
    for step in range(job["steps"]):
        opt.zero_grad()
        loss = model(input_ids=tokens, labels=labels).loss
        loss.backward()
        if step == 0:
            # named_parameters lists a tied lm_head once, as model.embed_tokens.weight
            grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
            save_file(grads, job["out"])
        torch.nn.utils.clip_grad_norm_(params, o["clip"])
        opt.step()
        losses.append(loss.item())
    return {"losses": losses}


def generate(job: dict) -> dict:
    model = load(job["model"]).eval()
    prompt = torch.tensor([job["prompt"]])
    with torch.no_grad():
        out = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=job["max_new_tokens"],
            eos_token_id=job["stop"],
            pad_token_id=job["stop"][0],
        )
    return {"tokens": out[0, prompt.shape[1] :].tolist()}


def main() -> None:
    torch.manual_seed(0)
    job = json.load(sys.stdin)
    task = {"logits": logits, "train": train, "generate": generate}[job["task"]]
    print(json.dumps(task(job)))


if __name__ == "__main__":
    main()
