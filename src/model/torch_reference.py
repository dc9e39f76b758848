# PyTorch reference for torch-parity.test.ts: the Qwen2/Qwen3/Llama decoder as Hugging Face defines it,
# written directly in torch, trained for a few AdamW steps on one batch. Reads a JSON job on stdin (config,
# HF-named parameters, batch, optimizer settings), prints JSON: the loss of each step and the gradients of
# the first step. Only torch is needed (python3-torch); transformers is not.
import json, math, sys
import torch
import torch.nn.functional as F

job = json.load(sys.stdin)
c = job["config"]
torch.manual_seed(0)
P = {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]).requires_grad_() for k, v in job["params"].items()}
H, KVH = c["num_attention_heads"], c["num_key_value_heads"]
D = c.get("head_dim") or c["hidden_size"] // H
eps, theta = c["rms_norm_eps"], c["rope_theta"]
B, T = job["batch"], job["time"]
tokens = torch.tensor(job["tokens"]).reshape(B, T)
targets = torch.tensor(job["targets"]).reshape(-1)
weights = torch.tensor(job["weights"], dtype=torch.float32)

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
f = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([f.cos(), f.cos()], -1), torch.cat([f.sin(), f.sin()], -1)

def rope(x):  # B, heads, T, D
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin

def proj(x, name):
    y = x @ P[name + ".weight"].t()
    return y + P[name + ".bias"] if name + ".bias" in P else y

def forward():
    x = P["model.embed_tokens.weight"][tokens]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(c["num_hidden_layers"]):
        n = f"model.layers.{l}"
        h = rms(x, P[n + ".input_layernorm.weight"])
        q = proj(h, n + ".self_attn.q_proj").view(B, T, H, D)
        k = proj(h, n + ".self_attn.k_proj").view(B, T, KVH, D)
        v = proj(h, n + ".self_attn.v_proj").view(B, T, KVH, D)
        if n + ".self_attn.q_norm.weight" in P:
            q, k = rms(q, P[n + ".self_attn.q_norm.weight"]), rms(k, P[n + ".self_attn.k_norm.weight"])
        q, k, v = rope(q.transpose(1, 2)), rope(k.transpose(1, 2)), v.transpose(1, 2)
        k, v = k.repeat_interleave(H // KVH, 1), v.repeat_interleave(H // KVH, 1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        y = (att.masked_fill(mask, float("-inf")).softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + proj(y, n + ".self_attn.o_proj")
        h = rms(x, P[n + ".post_attention_layernorm.weight"])
        x = x + proj(F.silu(proj(h, n + ".mlp.gate_proj")) * proj(h, n + ".mlp.up_proj"), n + ".mlp.down_proj")
    head = P.get("lm_head.weight", P["model.embed_tokens.weight"])
    logits = rms(x, P["model.norm.weight"]) @ head.t()
    ce = F.cross_entropy(logits.reshape(B * T, -1), targets, reduction="none")
    return (ce * weights).sum() / weights.sum()

o = job["optim"]
opt = torch.optim.AdamW(P.values(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"])
losses, grads = [], None
for step in range(job["steps"]):
    opt.zero_grad()
    loss = forward()
    loss.backward()
    if grads is None:
        grads = {k: p.grad.reshape(-1).tolist() for k, p in P.items()}
    torch.nn.utils.clip_grad_norm_(list(P.values()), o["clip"])
    opt.step()
    losses.append(loss.item())
print(json.dumps({"losses": losses, "grads": grads}))
