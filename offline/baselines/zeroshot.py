"""Zero-shot text: a pretrained sentence encoder used without any training.

score(u, j) = cos(v_u, e_j), where e_j is the item's text embedding (text_embeddings.py, MiniLM by
default) and v_u is the recency-weighted mean of the embeddings of the user's purchases: each
purchase weighs 0.5 ** (age / half_life) with the age measured back from the user's latest
purchase (measuring from the global cut multiplies every weight of a user by the same factor, so
the ranking is the same and the per-user reference also works for leave-last-out splits).
A repeat purchase counts each time. ``half_life_days`` is a knob (inf = plain mean) chosen on
the validation slice; unknown users get popularity.

Items without text cannot be embedded: ``fit`` raises ``NoItemText`` when the catalogue has none
(the benchmark then reports the row as not applicable, with the reason).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import sparse

from offline.baselines.interactions import Interactions

_DAY = 86_400.0


class NoItemText(ValueError):
    """The catalogue holds no item text, so a text baseline cannot run."""


def recency_weights(times: np.ndarray, half_life_days: float) -> np.ndarray:
    """0.5 ** ((max(times) - t) / half_life) per event; all ones for an infinite half-life.

    >>> recency_weights(np.array([0.0, 86_400.0, 172_800.0]), 1.0).tolist()
    [0.25, 0.5, 1.0]
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0 or math.isinf(half_life_days):
        return np.ones_like(times)
    return np.power(0.5, (times.max() - times) / (half_life_days * _DAY))


class ZeroShotText:
    name = "zeroshot-text"

    def __init__(self, item_text: dict[str, str], half_life_days: float = 7.0,
                 model_path: Path | None = None, cache_dir: Path | None = None, threads: int = 2) -> None:
        self.item_text = item_text
        self.model_path, self.cache_dir, self.threads = model_path, cache_dir, threads
        self.embedding_info: dict = {}
        self.set_knob(half_life_days=half_life_days)

    def set_knob(self, half_life_days: float) -> None:
        if not half_life_days > 0:
            raise ValueError(f"half_life_days: must be positive, got {half_life_days!r}")
        self.half_life_days = float(half_life_days)
        self.settings = {"encoder": "pretrained MiniLM (all-MiniLM-L6-v2), mean-pooled, no training",
                         "user": "recency-weighted mean of purchased items' embeddings",
                         "half_life_days": self.half_life_days, **self.embedding_info}

    def fit(self, interactions: Interactions) -> None:
        from offline.baselines.text_embeddings import item_embeddings

        texts = [str(self.item_text.get(str(i), "") or "").strip() for i in interactions.item_ids]
        if not any(texts):
            raise NoItemText("zero-shot text: no item in the catalogue has text")
        emb, info = item_embeddings(list(interactions.item_ids), texts, self.model_path, self.cache_dir,
                                    self.threads)
        emb = emb.astype(np.float64)
        emb[[not t for t in texts]] = 0.0  # an item without text matches nothing
        self._emb = emb
        self._inter = interactions
        self._bounds = interactions.user_bounds()
        self.embedding_info = {"embedding_cache_hit": info["cached"], "items_without_text":
                               int(sum(1 for t in texts if not t))}
        self.set_knob(self.half_life_days)
        pop = interactions.distinct_buyers()
        self._popularity = pop / max(pop.max(), 1.0)

    def user_weights(self, user_rows: np.ndarray) -> sparse.csr_matrix:
        """[len(user_rows), n_items] recency weight summed per purchased item."""
        inter, b = self._inter, self._bounds
        rows, cols, vals = [], [], []
        for k, r in enumerate(user_rows):
            lo, hi = b[r], b[r + 1]
            rows.append(np.full(hi - lo, k))
            cols.append(inter.ev_item[lo:hi])
            vals.append(recency_weights(inter.ev_time[lo:hi], self.half_life_days))
        shape = (len(user_rows), len(inter.item_ids))
        if not rows:
            return sparse.csr_matrix(shape)
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=shape)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        users = np.asarray(self.user_weights(np.asarray(user_rows)) @ self._emb)
        norms = np.linalg.norm(users, axis=1, keepdims=True)
        users = users / np.where(norms > 0, norms, 1.0)
        return users @ self._emb.T

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
