"""The distillation loss of src/engine/distill.ts written again in PyTorch, float64, gradients by autograd.

Reads a JSON job on stdin: h [rows, C], w [V, C], targets, weights, the teacher's ids/probs [rows, K] and
has [rows], and a list of settings {alpha, temperature, divergence}. Prints, per setting, the loss and its
gradients with respect to h and w, as JSON.
"""
import json
import sys

import torch
import torch.nn.functional as F

REVERSE_FLOOR = 1e-8


def distill_loss(h, w, targets, weights, ids, probs, has, alpha, T, divergence):
    z = h @ w.T
    ce = F.cross_entropy(z, targets, reduction="none")
    q = F.softmax(z / T, dim=-1)
    valid = ids >= 0
    safe = ids.clamp(min=0)
    q_top = torch.where(valid, q.gather(1, safe), torch.zeros_like(probs))
    # the tokens that are some alternative of their row; the tail is every other token
    among = torch.zeros_like(q).scatter_add(1, safe, valid.to(q.dtype)) > 0
    q_tail = (q * (~among)).sum(-1, keepdim=True)
    qb = torch.cat([q_top, q_tail], dim=1)
    p_top = torch.where(valid, probs, torch.zeros_like(probs))
    p_tail = (1 - p_top.sum(-1, keepdim=True)).clamp(min=0)
    pb = torch.cat([p_top, p_tail], dim=1) ** (1 / T)
    pb = pb / pb.sum(-1, keepdim=True)
    tiny = 1e-300
    if divergence == "forward":
        d = torch.where(pb > 0, pb * (pb.clamp(min=tiny).log() - qb.clamp(min=tiny).log()), 0).sum(-1)
    else:
        pb = pb.clamp(min=REVERSE_FLOOR)
        d = torch.where(qb > 0, qb * (qb.clamp(min=tiny).log() - pb.log()), 0).sum(-1)
    per_row = torch.where(has, alpha * ce + (1 - alpha) * T * T * d, ce)
    return (weights * per_row).sum() / weights.sum()


def main():
    job = json.load(sys.stdin)
    f64 = torch.float64
    rows, C, V, K = job["rows"], job["C"], job["V"], job["K"]
    targets = torch.tensor(job["targets"], dtype=torch.long)
    weights = torch.tensor(job["weights"], dtype=f64)
    ids = torch.tensor(job["ids"], dtype=torch.long).reshape(rows, K)
    probs = torch.tensor(job["probs"], dtype=f64).reshape(rows, K)
    has = torch.tensor(job["has"], dtype=torch.bool)
    results = []
    for s in job["settings"]:
        h = torch.tensor(job["h"], dtype=f64).reshape(rows, C).requires_grad_()
        w = torch.tensor(job["w"], dtype=f64).reshape(V, C).requires_grad_()
        loss = distill_loss(h, w, targets, weights, ids, probs, has, s["alpha"], s["temperature"], s["divergence"])
        loss.backward()
        results.append({"loss": loss.item(), "dh": h.grad.flatten().tolist(), "dw": w.grad.flatten().tolist()})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
