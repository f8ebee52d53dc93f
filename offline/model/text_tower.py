"""The item / query text tower: BERT -> mean pooling -> projection -> L2 normalisation.

Partial fine-tuning on 2 CPU cores: the embeddings and the lower ``n_layers - train_layers``
transformer layers are frozen, so their output for every catalogue item is computed ONCE
(:meth:`TextTower.lower`) and cached; training runs only the top layers
(:meth:`TextTower.upper`) and the projection. :meth:`forward` chains both and is what the ONNX
item encoder (also the Search query encoder) exports.

The layers are driven here with an explicit additive attention mask (eager attention) rather than
through ``BertModel.forward``, so the traced ONNX graph has no data-dependent mask shortcuts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

_NEG = -1e4  # additive mask value for padding (finite: a fully padded row stays NaN-free)


def load_bert(path: Path):
    """A BertModel from a local folder with eager attention (never a hub download)."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(path), attn_implementation="eager", local_files_only=True)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] 0/1 -> [B, 1, 1, L] additive (0 keep, -1e4 pad)."""
    return (1.0 - mask.to(dtype))[:, None, None, :] * _NEG


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, L, H] over positions where ``mask`` [B, L] is 1."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextTower(nn.Module):
    def __init__(self, bert: nn.Module, dim: int, train_layers: int) -> None:
        super().__init__()
        self.bert = bert
        n_layers = len(bert.encoder.layer)
        self.split = max(0, n_layers - min(train_layers, n_layers))
        self.proj = nn.Linear(bert.config.hidden_size, dim)
        for p in self.bert.parameters():
            p.requires_grad_(False)
        for layer in self.bert.encoder.layer[self.split :]:
            for p in layer.parameters():
                p.requires_grad_(True)

    @property
    def hidden_size(self) -> int:
        return int(self.bert.config.hidden_size)

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embeddings + frozen lower layers: [B, L] -> [B, L, H]."""
        h = self.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        ext = additive_mask(attention_mask, h.dtype)
        for layer in self.bert.encoder.layer[: self.split]:
            h = layer(h, ext)
        return h

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Trainable top layers + mean pooling: [B, L, H] -> pooled [B, H]."""
        ext = additive_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[self.split :]:
            hidden = layer(hidden, ext)
        return mean_pool(hidden, attention_mask)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.proj(pooled), dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.project(self.upper(self.lower(input_ids, attention_mask), attention_mask))


def tokenize(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Encode with a tokenizer from :func:`load_tokenizer` (truncates, pads to the longest)
    -> (input_ids, attention_mask) int64 [N, L]."""
    encs = tokenizer.encode_batch(list(texts))
    if not encs:
        return np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1), dtype=np.int64)
    ids = np.asarray([e.ids for e in encs], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
    return ids, mask


def load_tokenizer(path: Path, max_len: int):
    """The fast tokenizer of a BERT folder, set to truncate at ``max_len`` and pad to the batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_len)
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tok


@torch.no_grad()
def cache_lower(
    tower: TextTower, ids: np.ndarray, mask: np.ndarray, batch: int = 256, progress=None
) -> torch.Tensor:
    """Frozen lower-layer hidden states of every item: [N, L, H] (computed once)."""
    tower.eval()
    out = []
    for s in range(0, len(ids), batch):
        out.append(tower.lower(torch.from_numpy(ids[s : s + batch]), torch.from_numpy(mask[s : s + batch])))
        if progress is not None:
            progress(min(s + batch, len(ids)), len(ids))
    return torch.cat(out) if out else torch.zeros((0, ids.shape[1], tower.hidden_size))


@torch.no_grad()
def pooled_all(tower: TextTower, lower: torch.Tensor, mask: np.ndarray, batch: int = 512) -> torch.Tensor:
    """Pooled (pre-projection) text features of every item from the cached lower states."""
    tower.eval()
    m = torch.from_numpy(mask)
    out = [tower.upper(lower[s : s + batch], m[s : s + batch]) for s in range(0, len(lower), batch)]
    return torch.cat(out) if out else torch.zeros((0, tower.hidden_size))


@torch.no_grad()
def pooled_streamed(
    tower: TextTower,
    ids: np.ndarray,
    mask: np.ndarray,
    cached_rows: np.ndarray,
    cached: torch.Tensor,
    batch: int = 256,
    progress=None,
) -> torch.Tensor:
    """Pooled (pre-projection) text features of every row, a batch at a time: the lower layers'
    states of rows ``cached_rows`` come from ``cached`` (their states, in that order), the others
    are computed and dropped after their batch. Equal to ``pooled_all`` over a full
    ``cache_lower`` (to float rounding), with memory of one batch instead of [N, L, H] (37 GB at
    a million texts of 24 tokens)."""
    tower.eval()
    where = np.full(len(ids), -1, dtype=np.int64)
    where[cached_rows] = np.arange(len(cached_rows))
    out = []
    for s in range(0, len(ids), batch):
        rows = np.arange(s, min(s + batch, len(ids)))
        m = torch.from_numpy(mask[rows])
        at = where[rows]
        hit = at >= 0
        if hit.all():
            h = cached[torch.from_numpy(at)]
        else:
            h = torch.empty((len(rows), ids.shape[1], tower.hidden_size))
            miss = torch.from_numpy(~hit)
            h[miss] = tower.lower(torch.from_numpy(ids[rows[~hit]]), m[miss])
            if hit.any():
                h[torch.from_numpy(hit)] = cached[torch.from_numpy(at[hit])]
        out.append(tower.upper(h, m))
        if progress is not None:
            progress(rows[-1] + 1, len(ids))
    return torch.cat(out) if out else torch.zeros((0, tower.hidden_size))
