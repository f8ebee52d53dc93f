"""Serve-time parity: the item encoder, as loaded here, must give the export's golden vectors.

The exporter writes ``probes: {texts, item_encoder}`` into the manifest: a few rendered item
texts and a query, with the PyTorch item tower's embeddings of them (equal to ONNX Runtime's within
1e-4 at export). At load the server encodes the same texts with its own tokenizer, ONNX Runtime
build and execution provider; a cosine below ``MIN_COSINE`` (or ``MIN_COSINE_INT8`` for the int8
encoder) means the serving stack does not compute what was trained (another tokenizers version,
a broken provider, a swapped graph) and the bundle is refused. Bundles without probes (older
exports) are loaded with a log line saying the check was skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fulcrum.core.errors import BundleInvalid

log = logging.getLogger(__name__)

MIN_COSINE = 0.999
MIN_COSINE_INT8 = 0.98


def check_probes(
    raw: Mapping[str, Any], encode: Callable[[list[str]], list[np.ndarray]], int8: bool, where: str
) -> float | None:
    """The lowest probe cosine, or None when the manifest has no probes; BundleInvalid below the bar."""
    block = raw.get("probes")
    if block is None:
        log.info("%s: no golden probes in the manifest; serve-time parity not checked", where)
        return None
    try:
        texts = [str(t) for t in block["texts"]]
        want = np.asarray(block["item_encoder"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise BundleInvalid(f"{where}: manifest probes are malformed ({e})") from e
    if not texts or want.shape[0] != len(texts) or want.ndim != 2 or not np.isfinite(want).all():
        raise BundleInvalid(f"{where}: manifest probes are malformed (shape {want.shape})")
    got = np.asarray(encode(texts), dtype=np.float64)
    if got.shape != want.shape:
        raise BundleInvalid(f"{where}: probe embeddings have shape {got.shape}, manifest {want.shape}")
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1) + 1e-12)
    worst = float(cos.min())
    bar = MIN_COSINE_INT8 if int8 else MIN_COSINE
    if not worst >= bar:
        raise BundleInvalid(
            f"{where}: serve-time parity failed: probe {int(cos.argmin())} cosine {worst:.4f} < {bar} "
            "(this server's tokenizer/runtime does not compute what the export did)"
        )
    log.info("%s: serve-time parity ok (lowest probe cosine %.6f)", where, worst)
    return worst
