"""The bundle's three graphs as batch functions (synchronous; the batcher runs them in threads).

- ``TextEncoder``: texts -> L2-normalised embeddings (item encoder, also the query encoder),
  tokenised with the bundle's ``tokenizer.json`` truncated to the manifest's max length.
- ``UserEncoder``: per-user history arrays -> user embeddings; histories are left-padded to the
  longest in the batch (or the graph's fixed length) so the newest event is always last.
- ``Ranker``: feature matrices -> (purchase_prob, cancel_prob) per candidate.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.bundle.sessions import OrtModel


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


#: configured tokenizers by (sha256 of tokenizer.json, max length): see ``shared_tokenizer``
_TOKENIZERS: OrderedDict[tuple[str, int], Any] = OrderedDict()
_TOKENIZERS_KEPT = 4
_TOKENIZERS_LOCK = threading.Lock()


def shared_tokenizer(path: str, max_length: int) -> Any:
    """The ``tokenizers.Tokenizer`` of ``path``, truncating at ``max_length``, without padding;
    one object per (file content, max length) in the process, shared by the bundle's encoders and
    by a reloaded bundle with the same tokenizer. Parsing tokenizer.json runs in Rust with the
    GIL held (~100-250 ms for MiniLM's under load: the largest event-loop stall of a reload,
    measured with py-spy ``--gil``, twice per load); the file's bytes and hash release it. A
    cached tokenizer is never reconfigured (its settings are part of the key), so sharing it
    between threads that encode is safe."""
    from tokenizers import Tokenizer

    data = Path(path).read_bytes()
    key = (hashlib.sha256(data).hexdigest(), int(max_length))
    with _TOKENIZERS_LOCK:
        cached = _TOKENIZERS.get(key)
        if cached is not None:
            _TOKENIZERS.move_to_end(key)
            return cached
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        _TOKENIZERS[key] = tokenizer
        while len(_TOKENIZERS) > _TOKENIZERS_KEPT:
            _TOKENIZERS.popitem(last=False)
        return tokenizer


class TextEncoder:
    def __init__(self, model: OrtModel, tokenizer_path: str, max_length: int) -> None:
        model.require((bf.IN_INPUT_IDS, bf.IN_ATTENTION_MASK), (bf.OUT_EMBEDDING,))
        self.model = model
        self.tokenizer = shared_tokenizer(tokenizer_path, max_length)
        self.max_length = max_length

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(1, max(len(e.ids) for e in encodings))
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {bf.IN_INPUT_IDS: ids, bf.IN_ATTENTION_MASK: mask}
        if "token_type_ids" in self.model.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return feeds

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        out = self.model.run(self.tokenize(texts))[bf.OUT_EMBEDDING]
        return list(_l2(np.asarray(out, dtype=np.float32)))


@dataclass(frozen=True)
class History:
    """One user's encoder input, oldest first: item embeddings, type codes, ages in days."""

    emb: np.ndarray  # float32 [T, D]
    types: np.ndarray  # int64 [T]
    ages: np.ndarray  # float32 [T]


class UserEncoder:
    def __init__(self, model: OrtModel, history_length: int) -> None:
        model.require(
            (bf.IN_HIST_EMB, bf.IN_HIST_TYPE, bf.IN_HIST_AGE, bf.IN_HIST_MASK), (bf.OUT_USER_EMBEDDING,)
        )
        self.model = model
        shape = model.inputs[bf.IN_HIST_EMB].shape
        self.fixed_length = shape[1] if len(shape) == 3 and isinstance(shape[1], int) else None
        self.history_length = self.fixed_length or history_length

    def feeds(self, histories: Sequence[History]) -> dict[str, np.ndarray]:
        dim = histories[0].emb.shape[1]
        width = self.fixed_length or max(1, max(len(h.types) for h in histories))
        emb = np.zeros((len(histories), width, dim), dtype=np.float32)
        types = np.zeros((len(histories), width), dtype=np.int64)
        ages = np.zeros((len(histories), width), dtype=np.float32)
        mask = np.zeros((len(histories), width), dtype=np.float32)
        for row, h in enumerate(histories):
            t = min(len(h.types), width)
            if t:
                emb[row, width - t :] = h.emb[-t:]
                types[row, width - t :] = h.types[-t:]
                ages[row, width - t :] = h.ages[-t:]
                mask[row, width - t :] = 1.0
        return {bf.IN_HIST_EMB: emb, bf.IN_HIST_TYPE: types, bf.IN_HIST_AGE: ages, bf.IN_HIST_MASK: mask}

    def __call__(self, histories: list[History]) -> list[np.ndarray]:
        out = self.model.run(self.feeds(histories))[bf.OUT_USER_EMBEDDING]
        return list(_l2(np.asarray(out, dtype=np.float32)))


class Ranker:
    def __init__(self, model: OrtModel) -> None:
        model.require((bf.IN_FEATURES,), (bf.OUT_PURCHASE,))
        self.model = model

    def __call__(self, matrices: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        sizes = [len(m) for m in matrices]
        out = self.model.run({bf.IN_FEATURES: np.concatenate(matrices).astype(np.float32)})
        purchase = np.asarray(out[bf.OUT_PURCHASE], dtype=np.float32).reshape(-1)
        cancel = np.asarray(out.get(bf.OUT_CANCEL, np.zeros_like(purchase)), dtype=np.float32).reshape(-1)
        bounds = np.cumsum([0, *sizes])
        return [(purchase[a:b], cancel[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
