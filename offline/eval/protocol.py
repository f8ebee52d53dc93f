"""The OR-temporal evaluation protocol over the generic purchases (see the shared data README).

- Warm test users: ≥ 1 train purchase and ≥ 1 test purchase of an item they did not buy in train.
  Targets = those test items ("discovery"). Recommendations exclude the user's train items.
- Cold test users: test purchases but no train purchase. Targets = all their test items.
- Candidate pool = items seen in train purchases.
- Head items = the 20 % most purchased train items (by purchase rows); tail share counts the rest.

``repeat_allowed=True`` gives the variant: warm users are all users with train and test
purchases, targets are all their test items and nothing is excluded.

``history`` says what a user's past is (``HISTORIES``); the targets are always test purchases:

- ``purchases`` (default, above): train purchases define warm users, exclusions, the candidate
  pool, head items and novelty;
- ``interactions``: every positive train behaviour event (views, clicks, add-to-carts,
  purchases; not cancellations, dislikes or impressions) takes their place. On a multi-behaviour
  shop, where most purchased items were never bought before by anyone in train but were looked
  at, this is the protocol with signal; with ``repeat_allowed`` it asks "which of the items this
  user looked at, or any other, will they buy next" (items they viewed stay candidates). On a
  purchase log both histories are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from fulcrum.core import schema as S

HEAD_SHARE = 0.2
HISTORIES = ("purchases", "interactions")
#: behaviour types that are not a positive interaction with the item
NOT_POSITIVE = frozenset({S.EventType.CANCEL.value, S.EventType.DISLIKE.value,
                           S.EventType.IMPRESSION.value, S.EventType.ITEM_UPSERT.value})


@dataclass(frozen=True)
class Protocol:
    warm_users: tuple[str, ...]
    targets: dict[str, frozenset[str]]
    exclusions: dict[str, frozenset[str]]
    cold_users: tuple[str, ...]
    cold_targets: dict[str, frozenset[str]]
    candidate_pool: frozenset[str]
    head_items: frozenset[str]
    #: train purchase rows per item (pool items only), for novelty and popularity checks
    item_train_counts: dict[str, int]
    #: distinct train buyers per item (pool items only), for novelty
    item_train_users: dict[str, int]
    #: distinct train users (denominator for novelty)
    n_train_users: int
    repeat_allowed: bool = False
    history: str = "purchases"

    @property
    def name(self) -> str:
        """The variant's suffix of the split's protocol name, e.g. "/interactions/repeat-allowed"."""
        return ("/interactions" if self.history == "interactions" else "") + (
            "/repeat-allowed" if self.repeat_allowed else "")


def _item_sets(purchases: pd.DataFrame) -> dict[str, frozenset[str]]:
    if purchases.empty:
        return {}
    grouped = purchases.groupby(S.USER_ID, sort=True)[S.ITEM_ID].agg(lambda s: frozenset(s))
    return grouped.to_dict()


def head_items(item_counts: pd.Series, share: float = HEAD_SHARE) -> frozenset[str]:
    """The ceil(share × n) most purchased items; ties broken by item id for determinism."""
    if item_counts.empty:
        return frozenset()
    n_head = math.ceil(share * len(item_counts))
    frame = pd.DataFrame({"item": item_counts.index.astype(str), "n": item_counts.to_numpy()})
    frame = frame.sort_values(["n", "item"], ascending=[False, True], kind="stable")
    return frozenset(frame["item"].iloc[:n_head])


def build_protocol(train: pd.DataFrame, test: pd.DataFrame, repeat_allowed: bool = False,
                   history: str = "purchases") -> Protocol:
    """Build the protocol from train history events (purchases, or every positive interaction:
    ``history`` only labels the result) and test purchase events (generic schema)."""
    bought = _item_sets(train)
    tested = _item_sets(test)
    targets: dict[str, frozenset[str]] = {}
    exclusions: dict[str, frozenset[str]] = {}
    cold_targets: dict[str, frozenset[str]] = {}
    for user, items in tested.items():
        past = bought.get(user)
        if past is None:
            cold_targets[user] = items
            continue
        new = items if repeat_allowed else items - past
        if new:
            targets[user] = new
            exclusions[user] = frozenset() if repeat_allowed else past
    counts = train.groupby(S.ITEM_ID).size()
    return Protocol(
        warm_users=tuple(sorted(targets)),
        targets=targets,
        exclusions=exclusions,
        cold_users=tuple(sorted(cold_targets)),
        cold_targets=cold_targets,
        candidate_pool=frozenset(counts.index.astype(str)),
        head_items=head_items(counts),
        item_train_counts={str(k): int(v) for k, v in counts.items()},
        item_train_users={str(k): int(v) for k, v in train.groupby(S.ITEM_ID)[S.USER_ID].nunique().items()},
        n_train_users=int(train[S.USER_ID].nunique()),
        repeat_allowed=repeat_allowed,
        history=history,
    )


def history_events(prepared, history: str = "purchases") -> pd.DataFrame:
    """The train events that make up users' histories under ``history`` (see the module doc)."""
    if history == "purchases":
        return prepared.train_purchases()
    if history == "interactions":
        e = prepared.train_events()
        return e[e[S.USER_ID].notna() & ~e[S.EVENT_TYPE].isin(NOT_POSITIVE)]
    raise ValueError(f"history {history!r}: expected one of {', '.join(HISTORIES)}")


def protocol_for(prepared, repeat_allowed: bool = False, history: str = "purchases") -> Protocol:
    """The protocol of a :class:`offline.data.dataset.PreparedData` (its train history, test
    purchases)."""
    return build_protocol(history_events(prepared, history), prepared.test_purchases(), repeat_allowed,
                          history)
