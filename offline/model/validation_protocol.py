"""Which evaluation protocol training's validation slice uses, and the slice's protocol itself.

Everything `fulcrum train` chooses on validation (the best epoch, the hybrid weights) is only as
good as the slice's signal, so the slice is scored with the protocol the shop is evaluated with
(``offline.eval.protocol``, the code `fulcrum evaluate` / `fulcrum bench quality` use):

- ``purchases`` (a purchase-only shop): a user's past is their purchases before the cut; targets
  are the items they buy after it that they had not bought ("discovery"), which are excluded
  from the ranking; the candidate pool is the items purchased before the cut;
- ``interactions`` (a multi-behaviour shop): a user's past is every positive behaviour before the
  cut (views, clicks, add-to-carts, purchases; not cancellations, dislikes or impressions);
  targets are ALL their purchases after it and nothing is excluded -- on such a shop most
  purchases are of items the user looked at first, and "which of these, or any other, will they
  buy" is the question (`bench quality --protocol interactions --repeat-allowed`).

``auto`` (the default, ``retrieval.validation_protocol``) decides from the data: interactions
when the train events hold positive behaviours other than purchases, else purchases.

The user tower sees the same history under both: every behaviour event of the user before the
cut (``offline.model.examples.user_histories``), as serving folds it into the profile's recent
sequence (``fulcrum.core.user_state``); the protocol decides who is scored, on what targets,
over which pool, with what excluded. The hybrid's neighbour sources and table follow the
protocol (fulcrum/core/neighbour_source.py, recorded as the manifest's
``hybrid.neighbour_source``): purchases, or the bought and recent positive items with a table of
positive-interaction co-occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.model.interactions import PURCHASE_CODE, Interactions, per_event


def positive_codes() -> frozenset[int]:
    """Type codes of the positive behaviours (offline.eval.protocol's rule)."""
    from offline.eval.protocol import NOT_POSITIVE

    return frozenset(c for t, c in S.EVENT_TYPE_CODE.items() if t not in NOT_POSITIVE)


@dataclass(frozen=True)
class ValidationProtocol:
    """``history``: "purchases" or "interactions" (see the module doc); ``repeat_allowed``
    follows it (interactions: True); ``reason``: why this protocol, in words."""

    history: str = "purchases"
    reason: str = "default"

    @property
    def repeat_allowed(self) -> bool:
        return self.history == "interactions"

    @property
    def name(self) -> str:
        return "interactions (repeat-allowed)" if self.repeat_allowed else "purchases (discovery)"

    def as_dict(self) -> dict[str, object]:
        return {"protocol": self.history, "repeat_allowed": self.repeat_allowed, "reason": self.reason}


PURCHASES = ValidationProtocol("purchases", "purchase protocol")


def non_purchase_positives(inter: Interactions) -> dict[str, int]:
    """{event type: train events} of the positive behaviours other than purchases."""
    codes = positive_codes() - {PURCHASE_CODE}
    names = {c: t for t, c in S.EVENT_TYPE_CODE.items()}
    found = np.bincount(inter.ev_type, minlength=max(names) + 1)
    return {names[c]: int(found[c]) for c in sorted(codes) if c < len(found) and found[c] > 0}


def choose_protocol(inter: Interactions, setting: str) -> ValidationProtocol:
    """The validation protocol for ``retrieval.validation_protocol`` = ``setting``."""
    if setting in ("purchases", "interactions"):
        return ValidationProtocol(setting, "set in the config (retrieval.validation_protocol)")
    if setting != "auto":
        raise ValueError(f"retrieval.validation_protocol: {setting!r} is not auto, purchases or interactions")
    others = non_purchase_positives(inter)
    if others:
        counts = ", ".join(f"{t} {n}" for t, n in others.items())
        return ValidationProtocol("interactions", f"auto: the train events hold positive behaviours "
                                                  f"other than purchases ({counts})")
    return ValidationProtocol("purchases", "auto: the train events hold no positive behaviour "
                                           "other than purchases")


def slice_protocol(inter: Interactions, at: float | np.ndarray, target_pairs: tuple[np.ndarray, np.ndarray],
                   vp: ValidationProtocol):
    """The ``offline.eval.protocol.Protocol`` of a slice: histories are ``inter``'s train events
    before ``at`` (one cut, or one per user [U]) of the protocol's kind, targets the (user row,
    item row) purchases ``target_pairs``; ids are the user / item id strings."""
    from offline.eval.protocol import build_protocol

    before = inter.ev_time < per_event(inter, at)
    if vp.history == "interactions":
        kind = np.isin(inter.ev_type, np.fromiter(positive_codes(), dtype=np.int64))
    else:
        kind = inter.ev_type == PURCHASE_CODE
    keep = before & kind
    item_ids = inter.items[S.ITEM_ID].to_numpy(dtype=object)
    user_ids = np.asarray(inter.user_ids, dtype=object)
    history = pd.DataFrame(
        {S.USER_ID: user_ids[inter.ev_user[keep]], S.ITEM_ID: item_ids[inter.ev_item[keep]]}
    )
    users, items = (np.asarray(a, dtype=np.int64) for a in target_pairs)
    targets = pd.DataFrame({S.USER_ID: user_ids[users], S.ITEM_ID: item_ids[items]})
    return build_protocol(history, targets, repeat_allowed=vp.repeat_allowed, history=vp.history)


def no_targets_error(vp: ValidationProtocol, n_purchases: int, days: float, split_kind: str):
    """The one-line error of a validation slice left without a scored user."""
    from offline.stage_error import StageError

    where = f"the last {days:g} days of train" if split_kind == "time" else "each user's last train basket"
    other = "interactions" if vp.history == "purchases" else "purchases"
    return StageError(
        "validation",
        f"the {vp.name} protocol ({vp.reason}) leaves the validation slice ({where}, {n_purchases} "
        "purchases) with no user who has both a history before it and a target in it",
        f"set a longer retrieval.validation_days, or retrieval.validation_protocol: {other}, or "
        "retrieval.validation_days: 0 (no validation: last epoch, configured hybrid weights)",
    )
