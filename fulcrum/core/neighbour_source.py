"""Which of a user's items feed the hybrid score's neighbour term (fulcrum/core/hybrid.py).

The neighbour term sums, over a user's SOURCE items, the rows of the bundle's neighbour table.
What counts as a source follows the shop's evaluation protocol (``metrics.validation_protocol``
of the manifest, offline/model/validation_protocol.py), recorded in the manifest's ``hybrid``
block as ``neighbour_source`` so serving reads it instead of guessing:

- ``purchases`` (a purchase-only shop, and every bundle without the field): the items the user
  bought (``UserProfile.bought``); the table is built from purchase co-occurrence;
- ``interactions`` (a multi-behaviour shop): the items the user bought plus the items of the
  positive behaviours in the profile's recent sequence (views, clicks, add-to-carts, purchases;
  not cancellations or dislikes -- the sequence holds no impressions); the table is built from
  positive-behaviour co-occurrence. On such a shop most users have looked at items but bought
  none, and a purchase-only source left their neighbour term empty.

One rule for serving (online/server/profile_rows.py), offline evaluation
(offline/report/bundle_model.py) and training's validation (offline/model/holdout.py), so the
weights chosen on validation are the ones served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fulcrum.core.schema import BEHAVIOUR_TYPES, EventType

PURCHASES = "purchases"
INTERACTIONS = "interactions"
SOURCES = (PURCHASES, INTERACTIONS)
#: manifest key inside the ``hybrid`` block
MANIFEST_FIELD = "neighbour_source"
#: the positive behaviours (offline.eval.protocol's rule: everything but these negatives)
POSITIVE_TYPES = frozenset(BEHAVIOUR_TYPES) - {
    EventType.CANCEL.value, EventType.DISLIKE.value, EventType.IMPRESSION.value,
}


def check_source(source: object) -> str:
    """``source`` if it is one of ``SOURCES``, else ValueError naming the manifest field."""
    if source not in SOURCES:
        raise ValueError(f"hybrid.{MANIFEST_FIELD}: must be one of {', '.join(SOURCES)}, got {source!r}")
    return str(source)


def source_items(
    bought: Iterable[str], recent_items: Iterable[str], recent_types: Iterable[str], source: str
) -> Iterable[str]:
    """The user's neighbour-source item ids under ``source``: ``bought`` itself (the same object)
    for purchases; for interactions, ``bought`` plus the recent items whose behaviour is positive
    (a set: the order never matters, the sum is over distinct rows)."""
    if check_source(source) == PURCHASES:
        return bought
    out = set(bought)
    out.update(i for i, t in zip(recent_items, recent_types, strict=True) if t in POSITIVE_TYPES)
    return out


def profile_sources(profile: Any, source: str) -> Iterable[str]:
    """``source_items`` of a ``fulcrum.core.profile.UserProfile``."""
    return source_items(profile.bought, profile.recent_items, profile.recent_types, source)


def source_from_manifest(block: Mapping[str, object]) -> str:
    """The ``hybrid`` block's ``neighbour_source`` (absent: purchases, what every older bundle
    was built with)."""
    return check_source(block.get(MANIFEST_FIELD, PURCHASES))
