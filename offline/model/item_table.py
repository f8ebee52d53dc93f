"""Catalogue item vectors during retrieval training: text part + optional id residual.

item vector = normalize( normalize(proj(pooled text)) + id_residual )

- The text part is exactly what the exported ONNX item encoder computes (the BERT tower's cached
  pooled output -> the tower's own projection), so a NEW item encoded online lands in the same
  space as the catalogue.
- The id residual (``retrieval.id_embedding``) is a learned per-item vector for items seen in
  training; it starts at zero and is randomly dropped in training (``retrieval.id_dropout``) so the
  text-only path stays a good vector by itself. ``item_embeddings.npy`` in the bundle holds the
  hybrid vectors; items without training data get the text-only vector.

``forward`` computes the whole table (validation, export, ``negatives: full``); ``rows`` computes
the same vectors for a set of rows only, so a training step with sampled negatives costs the
same whatever the catalogue's size.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemTable(nn.Module):
    def __init__(self, pooled: torch.Tensor, proj: nn.Linear, use_ids: bool) -> None:
        super().__init__()
        self.register_buffer("pooled", pooled.detach().clone())
        self.proj = proj
        self.use_ids = use_ids
        self.ids = nn.Embedding(pooled.shape[0], proj.out_features)
        nn.init.zeros_(self.ids.weight)

    def text_vectors(self) -> torch.Tensor:
        return nn.functional.normalize(self.proj(self.pooled), dim=-1)

    @property
    def n_items(self) -> int:
        return self.pooled.shape[0]

    def rows(self, idx: torch.Tensor, id_dropout: float = 0.0, sparse: bool = False) -> torch.Tensor:
        """The vectors [len(idx), D] of rows ``idx`` (distinct), equal to ``forward()[idx]``
        except that id dropout is drawn for these rows only. ``sparse``: the id table's gradient
        is row-sparse (those rows only; ``offline.model.row_adamw``), else a dense [N, D]."""
        v = nn.functional.normalize(self.proj(self.pooled[idx]), dim=-1)
        if self.use_ids:
            r = nn.functional.embedding(idx, self.ids.weight, sparse=sparse)
            if self.training and id_dropout > 0:
                keep = (torch.rand(r.shape[0], 1) >= id_dropout).to(r.dtype)
                r = r * keep
            v = v + r
        return nn.functional.normalize(v, dim=-1)

    def forward(self, id_dropout: float = 0.0) -> torch.Tensor:
        """All item vectors [N, D] (L2-normalised)."""
        v = self.text_vectors()
        if self.use_ids:
            r = self.ids.weight
            if self.training and id_dropout > 0:
                keep = (torch.rand(r.shape[0], 1) >= id_dropout).to(r.dtype)
                r = r * keep
            v = v + r
        return nn.functional.normalize(v, dim=-1)
