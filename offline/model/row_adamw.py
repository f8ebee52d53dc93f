"""AdamW that updates only the rows of a row-sparse gradient (``retrieval.id_updates: rows``).

The id residual table has a row per catalogue item, but a training step touches a few thousand
rows. Dense AdamW reads and writes the whole table, its two moment tables and its gradient every
step; at a million items that is most of a step. ``RowAdamW`` is ``torch.optim.AdamW`` for every
parameter with a dense gradient, and for a parameter whose gradient is sparse (``embedding(...,
sparse=True)``) it applies AdamW's update -- decoupled weight decay, both moments, bias
correction by the parameter's step count -- to the gradient's rows only. Rows not in a step keep
their weights and moments (the "lazy" Adam of sparse embeddings): unlike dense AdamW, a row's old
momentum does not keep moving it and weight decay does not shrink it while it is absent. When
every row is in every step the two are the same update (tested).
"""

from __future__ import annotations

import math

import torch


class RowAdamW(torch.optim.AdamW):
    @torch.no_grad()
    def step(self, closure=None):
        sparse = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    sparse.append((group, p, p.grad))
                    p.grad = None  # AdamW skips it; updated below
        loss = super().step(closure)
        for group, p, grad in sparse:
            self._rows(group, p, grad.coalesce())
            p.grad = grad
        return loss

    def _rows(self, group, p: torch.Tensor, grad: torch.Tensor) -> None:
        state = self.state[p]
        if "row_step" not in state:
            state["row_step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["row_step"] += 1
        t = state["row_step"]
        idx, g = grad.indices()[0], grad.values()
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        rows = p[idx].mul_(1.0 - lr * wd)
        m = state["exp_avg"][idx].mul_(b1).add_(g, alpha=1.0 - b1)
        v = state["exp_avg_sq"][idx].mul_(b2).addcmul_(g, g, value=1.0 - b2)
        denom = (v.sqrt() / math.sqrt(1.0 - b2**t)).add_(eps)
        rows.addcdiv_(m, denom, value=-lr / (1.0 - b1**t))
        p[idx] = rows
        state["exp_avg"][idx] = m
        state["exp_avg_sq"][idx] = v


def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_`` that also takes row-sparse gradients (their stored rows
    count once each: the gradient is coalesced first). Dense-only lists go to torch's own."""
    grads = [p.grad for p in params if p.grad is not None]
    if not any(g.is_sparse for g in grads):
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    sq = torch.zeros(())
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            sq = sq + p.grad.values().pow(2).sum()
        else:
            sq = sq + p.grad.pow(2).sum()
    total = float(sq.sqrt())
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(coef)
    return total
