"""The three ONNX graphs of a bundle: written from the run's modules, then checked against
PyTorch on real inputs (``offline.export.parity``), and the golden probes the server re-encodes
at load (serve-time parity, fulcrum/core/bundle/probes.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.core import bundle_format as bf
from offline.export.run_inputs import Feed, ParityInputs, RunInputs, text_feeds

log = logging.getLogger(__name__)


def export_graphs(run: RunInputs, feeds: ParityInputs, tmp: Path) -> Any:
    """Write item_encoder / user_encoder / ranker .onnx into ``tmp``; returns the wrapped ranker
    module (what ranker.onnx computes, the parity reference)."""
    import torch

    from offline.export import onnx_graphs as og

    f0 = feeds.text_feeds[0]
    og.export_item_encoder(
        run.tower,
        torch.from_numpy(f0[bf.IN_INPUT_IDS]),
        torch.from_numpy(f0[bf.IN_ATTENTION_MASK]),
        tmp / bf.ITEM_ENCODER,
    )
    og.export_user_encoder(
        run.user, tuple(torch.from_numpy(v) for v in feeds.user_feeds[0].values()), tmp / bf.USER_ENCODER
    )
    return og.export_ranker(
        run.ranker, torch.from_numpy(feeds.rank_feeds[0][bf.IN_FEATURES]), tmp / bf.RANKER
    )


def torch_reference(module) -> Callable[[Feed], list[np.ndarray]]:
    """``module`` as a feed -> outputs function (no grad), the parity checks' reference."""

    def run(feed: Feed) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            out = module(*(torch.from_numpy(v) for v in feed.values()))
        outs = out if isinstance(out, tuple) else (out,)
        return [o.numpy() for o in outs]

    return run


def check_graphs(run: RunInputs, feeds: ParityInputs, wrapped_ranker, tmp: Path) -> dict[str, float]:
    """max |ORT - torch| per graph; ``ExportError`` (from check_parity) above the tolerance."""
    from offline.export.parity import check_parity

    parity = {
        "item_encoder": check_parity(
            bf.ITEM_ENCODER, tmp / bf.ITEM_ENCODER, feeds.text_feeds, torch_reference(run.tower)
        ),
        "user_encoder": check_parity(
            bf.USER_ENCODER, tmp / bf.USER_ENCODER, feeds.user_feeds, torch_reference(run.user)
        ),
        "ranker": check_parity(bf.RANKER, tmp / bf.RANKER, feeds.rank_feeds, torch_reference(wrapped_ranker)),
    }
    log.info("parity (max |ORT - torch|): %s", parity)
    return parity


def golden_probes(run: RunInputs, feeds: ParityInputs) -> dict[str, Any]:
    """Three catalogue texts + "red heart" and their item-encoder outputs (rounded to 1e-6)."""
    probe_texts = feeds.texts[:3] + ["red heart"]
    (probe_out,) = torch_reference(run.tower)(text_feeds(run.tok, probe_texts, batch=len(probe_texts))[0])
    return {"texts": probe_texts, "item_encoder": np.round(probe_out, 6).tolist()}
