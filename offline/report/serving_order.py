"""The candidate ordering `fulcrum serve` uses by default, read from ``online.config``.

``online/config.py`` imports only pydantic and ``online.errors`` (no grpc, onnxruntime or feast),
so offline may read the serving defaults from it: the bundle report and the retrain judge then
evaluate the order the server actually ships with, and follow it if the default changes.
"""

from __future__ import annotations

from typing import Any


def serving_defaults() -> dict[str, Any]:
    """``ranking_mode``, ``blend_weight`` and ``cancel_risk_weight`` of a default ServeConfig."""
    from online.config import ServeConfig

    fields = ServeConfig.model_fields
    return {name: fields[name].default for name in ("ranking_mode", "blend_weight", "cancel_risk_weight")}


def serving_order() -> str:
    """The default ``ranking_mode``: "retrieval", "ranker" or "blend"."""
    return str(serving_defaults()["ranking_mode"])
