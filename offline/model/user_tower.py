"""The user tower: a small transformer over the last T behaviour events -> L2-normalised vector.

Inputs (the ONNX ``user_encoder`` contract in fulcrum.core.bundle_format):
``hist_emb`` [B, T, D] item embeddings of the events, ``hist_type`` [B, T] event-type codes
(fulcrum.core.schema.EVENT_TYPE_CODE, 0 = padding), ``hist_age_days`` [B, T] age of each event at
request time, ``hist_mask`` [B, T] 1 for real events.

There is no positional embedding: order and recency come from ``hist_age_days`` only, so the
padding side and T are free (dynamic T in the ONNX graph). Output =
normalize(recency-weighted mean of hist_emb + attention-pooled transformer output); the mean
path starts the model at the strong "average of recent items" solution. A fully padded row gives
a finite vector (never NaN); serving treats such users as cold anyway.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_NEG = -1e4
N_TYPE_CODES = 16  # room for every EVENT_TYPE_CODE (+ padding 0)


def age_features(age_days: torch.Tensor) -> torch.Tensor:
    """[B, T] -> [B, T, 5]: log-age and exponential decays at 1, 7, 30 and 180 days."""
    a = age_days.clamp(min=0.0).unsqueeze(-1)
    scales = torch.tensor([1.0, 7.0, 30.0, 180.0], dtype=a.dtype)
    return torch.cat([torch.log1p(a) / 5.0, torch.exp(-a / scales)], dim=-1)


class _Block(nn.Module):
    """Pre-LN transformer block with explicit masked attention (exports cleanly to ONNX)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"user.heads={heads} must divide dim={dim}")
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q = q.reshape(b, t, h, d // h).transpose(1, 2)
        k = k.reshape(b, t, h, d // h).transpose(1, 2)
        v = v.reshape(b, t, h, d // h).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // h) + bias
        att = self.drop(torch.softmax(att, dim=-1))
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.out(y))
        return x + self.drop(self.ff(self.ln2(x)))


class UserTower(nn.Module):
    def __init__(self, dim: int, layers: int = 1, heads: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Linear(dim, dim)
        self.type_emb = nn.Embedding(N_TYPE_CODES, dim, padding_idx=0)
        self.age = nn.Linear(5, dim)
        self.blocks = nn.ModuleList([_Block(dim, heads, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.pool_q = nn.Parameter(torch.zeros(dim))
        self.outp = nn.Linear(dim, dim)
        nn.init.zeros_(self.outp.weight)
        nn.init.zeros_(self.outp.bias)
        # recency weighting of the mean path: softmax over -age / tau, tau learned (init 30 days)
        self.log_tau = nn.Parameter(torch.tensor(math.log(30.0)))
        self.type_w = nn.Embedding(N_TYPE_CODES, 1, padding_idx=0)
        nn.init.zeros_(self.type_w.weight)

    def forward(
        self,
        hist_emb: torch.Tensor,
        hist_type: torch.Tensor,
        hist_age_days: torch.Tensor,
        hist_mask: torch.Tensor,
    ) -> torch.Tensor:
        mask = hist_mask.to(hist_emb.dtype)
        pad_bias = (1.0 - mask) * _NEG  # [B, T]
        # mean path: recency- and type-weighted average of the event item embeddings
        w = -hist_age_days.clamp(min=0.0) / torch.exp(self.log_tau) + self.type_w(hist_type).squeeze(-1)
        w = torch.softmax(w + pad_bias, dim=-1) * mask
        mean = (w.unsqueeze(-1) * hist_emb).sum(1)
        # attention path
        x = self.inp(hist_emb) + self.type_emb(hist_type) + self.age(age_features(hist_age_days))
        bias = pad_bias[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, bias)
        x = self.ln(x)
        scores = torch.matmul(x, self.pool_q) / math.sqrt(x.shape[-1]) + pad_bias
        a = torch.softmax(scores, dim=-1) * mask
        pooled = (a.unsqueeze(-1) * x).sum(1)
        return nn.functional.normalize(mean + self.outp(pooled), dim=-1, eps=1e-6)
