"""Serving refuses an ordering that needs a ranking head the bundle lacks (online/bundle/ranker_use.py)."""

from __future__ import annotations

import pytest

from fulcrum.core.errors import BundleInvalid
from online.bundle.ranker_use import check_ranker_use, ranker_heads


def _manifest(source: str, heads: dict | None = None) -> dict:
    return {
        "models": {"ranker": {"source": {"source": source, "note": "x"}}},
        "metrics": {"ranker": {"heads": heads} if heads is not None else {}},
    }


TRAINED = _manifest("ranking", {"purchase": "trained", "cancel": "trained"})
NO_CANCELS = _manifest("ranking", {"purchase": "trained", "cancel": "off: no cancellations"})
NO_RANKER = _manifest("off")


def test_heads_read_from_the_manifest():
    assert ranker_heads(TRAINED) == {"purchase": True, "cancel": True}
    assert ranker_heads(NO_CANCELS) == {"purchase": True, "cancel": False}
    assert ranker_heads(NO_RANKER) == {"purchase": False, "cancel": False}
    # a bundle from before the heads were recorded: both trained (it always had both)
    assert ranker_heads(_manifest("ranking")) == {"purchase": True, "cancel": True}


@pytest.mark.parametrize("manifest", [TRAINED, NO_CANCELS, NO_RANKER])
def test_retrieval_order_serves_any_bundle(manifest):
    check_ranker_use(manifest, "retrieval", 0.0, "b")  # nothing read from the head: no error


def test_ranker_modes_need_the_purchase_head():
    for mode in ("ranker", "blend"):
        check_ranker_use(TRAINED, mode, 0.0, "b")
        check_ranker_use(NO_CANCELS, mode, 0.0, "b")
        with pytest.raises(BundleInvalid, match="ranking_mode: retrieval"):
            check_ranker_use(NO_RANKER, mode, 0.0, "b")


def test_cancel_risk_needs_the_cancellation_head():
    check_ranker_use(TRAINED, "retrieval", 0.5, "b")
    for manifest in (NO_CANCELS, NO_RANKER):
        with pytest.raises(BundleInvalid, match="cancel_risk_weight: 0"):
            check_ranker_use(manifest, "retrieval", 0.5, "b")
