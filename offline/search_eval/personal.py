"""Does personalisation cost an unrelated shopper relevance? Synthetic users with random
purchase histories, encoded by the bundle's own user encoder graph (as serving encodes a known
user), searching the judged queries: their NDCG@10 against the anonymous NDCG@10."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.schema import EVENT_TYPE_CODE, EventType


def random_user_vectors(bundle: Path, n_users: int = 5, history: int = 10, seed: int = 0) -> np.ndarray:
    """[n_users, D] user vectors of users who each bought ``history`` random catalogue items."""
    import onnxruntime as ort

    emb = np.load(bundle / bf.ITEM_EMBEDDINGS).astype(np.float32)
    session = ort.InferenceSession(str(bundle / bf.USER_ENCODER), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    width = shape[1] if isinstance(shape[1], int) else history
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_users):
        rows = rng.choice(len(emb), size=min(history, width, len(emb)), replace=False)
        t = len(rows)
        hist = np.zeros((1, width, emb.shape[1]), np.float32)
        types = np.zeros((1, width), np.int64)
        ages = np.zeros((1, width), np.float32)
        mask = np.zeros((1, width), np.float32)
        hist[0, width - t :] = emb[rows]
        types[0, width - t :] = EVENT_TYPE_CODE[EventType.PURCHASE.value]
        ages[0, width - t :] = np.arange(t, 0, -1, dtype=np.float32)
        mask[0, width - t :] = 1.0
        (vec,) = session.run(
            [bf.OUT_USER_EMBEDDING],
            {bf.IN_HIST_EMB: hist, bf.IN_HIST_TYPE: types, bf.IN_HIST_AGE: ages, bf.IN_HIST_MASK: mask},
        )
        v = np.asarray(vec[0], dtype=np.float32)
        out.append(v / max(float(np.linalg.norm(v)), 1e-12))
    return np.stack(out)
