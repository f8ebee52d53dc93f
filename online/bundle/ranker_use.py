"""Refuse to serve an ordering that needs a ranking head the bundle does not have.

A bundle trained with ``--no-ranker`` ships a ranker graph that answers 0 for both heads, and a
shop without cancellations trains the purchase head only (the cancellation head is recorded as
"off: ..." in the manifest's ranker metrics). Serving ``ranking_mode`` "ranker"/"blend" on the
first, or ``cancel_risk_weight`` > 0 on either, would order by constants without a word: the
bundle is refused instead (at start-up and on ReloadModel, where the old bundle keeps serving).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fulcrum.core.errors import BundleInvalid
from fulcrum.core.rerank.ordering import needs_ranker


def _off(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("off")


def ranker_heads(raw: Mapping[str, Any]) -> dict[str, bool]:
    """{"purchase": trained?, "cancel": trained?} from a manifest (older bundles: both trained)."""
    source = raw.get("models", {}).get("ranker", {}).get("source", {})
    kind = source.get("source") if isinstance(source, dict) else source
    if kind == "off":
        return {"purchase": False, "cancel": False}
    heads = (raw.get("metrics", {}).get("ranker", {}) or {}).get("heads", {}) or {}
    return {head: not _off(heads.get(head)) for head in ("purchase", "cancel")}


def check_ranker_use(raw: Mapping[str, Any], mode: str, cancel_risk_weight: float, where: str) -> None:
    """BundleInvalid naming the setting and the fix when the config needs a head ``raw`` lacks."""
    if not needs_ranker(mode, cancel_risk_weight):
        return
    heads = ranker_heads(raw)
    if mode != "retrieval" and not heads["purchase"]:
        raise BundleInvalid(
            f"{where}: ranking_mode {mode!r} needs the ranking head, but this bundle was trained "
            "without it (--no-ranker): serve with ranking_mode: retrieval, or retrain with the head"
        )
    if cancel_risk_weight > 0.0 and not heads["cancel"]:
        raise BundleInvalid(
            f"{where}: cancel_risk_weight {cancel_risk_weight} needs the cancellation head, which this "
            "bundle does not have (no cancellations in its data, or --no-ranker): set cancel_risk_weight: 0"
        )
