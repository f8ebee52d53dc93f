"""Fit the query-side adapter (``fulcrum.core.search.adapter``) on a search log and publish it
as a new bundle.

The log is split by time: the newest ``holdout`` share is held out. ``W`` starts at the identity
and is trained with a softmax over the whole catalogue (each query should score the item the
shopper chose above every other item), temperature 0.05, plus ``reg x ||W - I||^2`` so it moves
only as far as the log asks. The result is kept only when the held-out mean reciprocal rank of
the chosen items improves; otherwise nothing is written and the command says so.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.search import adapter as ad


def mrr(query_vecs: np.ndarray, targets: np.ndarray, items: np.ndarray, w: np.ndarray | None) -> float:
    """Mean reciprocal rank of each target row among all items for the (adapted) queries."""
    if len(targets) == 0:
        return float("nan")
    q = query_vecs if w is None else query_vecs @ w.T
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    scores = q @ items.T
    own = scores[np.arange(len(targets)), targets]
    ranks = 1 + (scores > own[:, None]).sum(axis=1)
    return float((1.0 / ranks).mean())


def fit_adapter(
    query_vecs: np.ndarray,
    targets: np.ndarray,
    items: np.ndarray,
    epochs: int = 30,
    lr: float = 1e-3,
    reg: float = 1e-2,
    temperature: float = 0.05,
    batch: int = 256,
    seed: int = 0,
) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    dim = items.shape[1]
    w = torch.nn.Parameter(torch.eye(dim))
    eye = torch.eye(dim)
    opt = torch.optim.Adam([w], lr=lr)
    q_all = torch.from_numpy(np.ascontiguousarray(query_vecs, dtype=np.float32))
    t_all = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    item_t = torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(q_all), generator=gen).split(batch):
            q = torch.nn.functional.normalize(q_all[idx] @ w.T, dim=-1)
            loss = torch.nn.functional.cross_entropy(q @ item_t.T / temperature, t_all[idx])
            loss = loss + reg * ((w - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().numpy().astype(np.float32)


def publish(bundle: Path, out_root: Path, w: np.ndarray, block: dict) -> Path:
    """A copy of ``bundle`` with the adapter and a re-written manifest, as ``out_root/<version>``
    (``out_root/LATEST`` points to it)."""
    from fulcrum.core.manifest import WRITER_KEYS, write_manifest
    from offline.export.publish import point_latest

    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_root))
    try:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        np.save(tmp / ad.ADAPTER_FILE, w)
        manifest = json.loads((tmp / bf.MANIFEST).read_text())
        body = {k: v for k, v in manifest.items() if k not in WRITER_KEYS}
        body[ad.MANIFEST_KEY] = {"file": ad.ADAPTER_FILE, **block, "base_bundle": manifest.get("version")}
        written = write_manifest(tmp, body)
        final = out_root / written["version"]
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(out_root, final)
    return final
