#!/usr/bin/env python3
"""PEFT's side of the LoRA parity test: the adapter folder `distill train --lora` wrote, loaded the way
people load one, onto the transformers model of its base.

    peft_lora.py  < {"base": DIR, "adapter": DIR, "tokens": [[ids], ...], "out": FILE}
      -> FILE holds "logits" (B, T, V) float32 of PeftModel.from_pretrained(base, adapter), and
         "base" the base model's alone; stdout {"adapted_modules": n, "missing": [...]}
"""

import json
import sys

import torch
from peft import PeftModel
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM


def main() -> None:
    job = json.load(sys.stdin)
    base = AutoModelForCausalLM.from_pretrained(job["base"], dtype=torch.float32).eval()
    tokens = torch.tensor(job["tokens"])
    with torch.no_grad():
        plain = base(tokens).logits.contiguous()
    model = PeftModel.from_pretrained(base, job["adapter"]).eval()
    # every lora_B PEFT holds must be the file's, not a fresh zero one (a misnamed tensor loads as nothing)
    adapted = [n for n, _ in model.named_modules() if n.endswith("lora_B")]
    zero = [n for n, p in model.named_parameters() if "lora_B" in n and not p.abs().sum() > 0]
    with torch.no_grad():
        out = {"logits": model(tokens).logits.contiguous(), "base": plain}
    save_file(out, job["out"])
    print(json.dumps({"adapted_modules": len(adapted), "zero_lora_B": zero}))


if __name__ == "__main__":
    main()
