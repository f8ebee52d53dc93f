"""The candidate ordering `fulcrum serve` uses by default (fulcrum/core/serving_defaults.py, the
values online/config.py takes as its defaults): the bundle report and the retrain judge evaluate
the order the server actually ships with, and follow it if the default changes.
"""

from __future__ import annotations

from typing import Any

from fulcrum.core import serving_defaults as sd


def serving_defaults() -> dict[str, Any]:
    """``ranking_mode``, ``blend_weight`` and ``cancel_risk_weight`` of a default ServeConfig."""
    return {
        "ranking_mode": sd.RANKING_MODE,
        "blend_weight": sd.BLEND_WEIGHT,
        "cancel_risk_weight": sd.CANCEL_RISK_WEIGHT,
    }


def serving_order() -> str:
    """The default ``ranking_mode``: "retrieval", "ranker" or "blend"."""
    return str(serving_defaults()["ranking_mode"])
