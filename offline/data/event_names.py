"""Event-type names as shops write them -> Fulcrum's event types (fulcrum.core.schema.EventType).

Logs name behaviours in many ways (``pv``, ``page_view``, ``cart``, ``buy``, ``order`` ...).
``resolve_event_types`` maps a column of raw names onto the schema: first the user's own map
(``fulcrum data prepare --event-map fav=CLICK``), then the schema's own names
(case-insensitive), then the common aliases below. Unknown names stay unknown (the adapter drops
and counts them).

Fulcrum has no separate favourite type: a favourite / wish-list entry is a saved intent to buy,
the same signal as an add-to-cart for a recommender, so the aliases map it to ADD_TO_CART. To keep
it apart (e.g. as CLICK), pass ``--event-map fav=CLICK``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fulcrum.core import schema as S

_T = S.EventType
#: lower-cased raw name -> event type
ALIASES: dict[str, str] = {
    **{n: _T.VIEW.value for n in ("pv", "view", "views", "page_view", "pageview", "detail", "product_view")},
    **{n: _T.CLICK.value for n in ("click", "clicks")},
    **{
        n: _T.ADD_TO_CART.value
        for n in ("cart", "addtocart", "add_to_cart", "add-to-cart", "basket", "fav", "favorite",
                  "favourite", "wishlist", "wish_list", "like", "save")
    },
    **{n: _T.PURCHASE.value for n in ("buy", "purchase", "order", "transaction", "checkout", "sale")},
    **{n: _T.CANCEL.value for n in ("cancel", "cancellation", "return", "refund")},
    **{n: _T.DISLIKE.value for n in ("dislike", "hide", "not_interested")},
    **{n: _T.IMPRESSION.value for n in ("impression", "impressions", "shown")},
}


def parse_event_map(pairs: list[str] | None) -> dict[str, str]:
    """``["fav=CLICK", ...]`` -> ``{"fav": "CLICK"}``; raises ValueError naming a bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, target = pair.partition("=")
        target = target.strip().upper()
        if not sep or not name.strip():
            raise ValueError(f"{pair!r}: expected RAW_NAME=EVENT_TYPE, e.g. fav=CLICK")
        if target not in S.BEHAVIOUR_TYPES:
            raise ValueError(f"{pair!r}: {target!r} is not one of {', '.join(S.BEHAVIOUR_TYPES)}")
        out[name.strip().lower()] = target
    return out


def resolve_event_types(raw: pd.Series, event_map: Mapping[str, str] | None = None) -> pd.Series:
    """Upper-case schema names for ``raw`` names; unknown names keep their upper-cased form."""
    text = raw.astype("string").str.strip().fillna("")
    lower = text.str.lower()
    table = {**ALIASES, **{k.lower(): v for k, v in (event_map or {}).items()}}
    mapped = lower.map(table)
    return mapped.where(mapped.notna(), text.str.upper()).astype("string")
