"""The promotion judge's hybrid parts (offline/pipeline/bundle_eval.py) follow the bundle's
``hybrid.neighbour_source``: the interactions source rebuilds the table from positive
interactions and feeds the term from the profile's recent positive items; purchases as before."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.pipeline.bundle_eval import _hybrid_adjust, hybrid_parts_at


def _events() -> pd.DataFrame:
    # u0 viewed i0 and i1, u1 viewed i0 and i1 and bought i2; the view of i2 by u0 is at the cut
    rows = [("u0", "i0", "VIEW", 1), ("u0", "i1", "VIEW", 2), ("u1", "i0", "VIEW", 1),
            ("u1", "i1", "ADD_TO_CART", 2), ("u1", "i2", "PURCHASE", 3), ("u0", "i2", "VIEW", 10)]
    return pd.DataFrame({
        S.USER_ID: [r[0] for r in rows], S.ITEM_ID: [r[1] for r in rows], S.EVENT_TYPE: [r[2] for r in rows],
        S.TIMESTAMP: pd.to_datetime([r[3] * 86_400 for r in rows], unit="s", utc=True),
    })


def _manifest(source: str | None) -> dict:
    block = {"neighbour_weight": 1.0, "trend_weight": 0.0, "neighbours": 5, "trend_days": 14.0}
    return {"hybrid": block if source is None else {**block, "neighbour_source": source}}


def test_interactions_source_rebuilds_the_table_and_sources_from_positive_interactions() -> None:
    index = {"i0": 0, "i1": 1, "i2": 2}
    at = pd.Timestamp(10 * 86_400, unit="s", tz="UTC")
    ev = _events()
    parts = hybrid_parts_at(_manifest("interactions"), index, ev, at)
    # users of i0 {u0, u1}, i1 {u0, u1}, i2 {u1}: source i0 feeds i1 (cos 1) and i2 (1/sqrt 2)
    assert np.allclose(parts[1].scores([0], 3), [0.0, 1.0, 2 ** -0.5], atol=1e-6)
    # u0 bought nothing: under purchases their neighbour term is empty (z of zeros = 0 + cosine)
    cosine = np.array([0.0, 0.1, 0.2])
    purchases = hybrid_parts_at(_manifest(None), index, ev, at)
    assert np.allclose(purchases[1].scores([0, 1], 3), 0.0)  # one buyer: no co-purchase
    flat = _hybrid_adjust(purchases, index, ev, at)("u0", cosine)
    # under interactions u0's sources are i0 and i1 (views before the cut): i0 gets 1 (from i1),
    # i1 gets 1 (from i0), i2 gets 2/sqrt 2: the neighbour term now orders i2 first
    got = _hybrid_adjust(parts, index, ev, at)("u0", cosine)
    assert np.argmax(got) == 2 and not np.allclose(got, flat)
    assert np.allclose(flat, (cosine - cosine.mean()) / cosine.std())


def test_the_bundles_neighbour_model_rebuilds_the_table() -> None:
    # a bundle whose table is RP3beta (alpha 1, beta 1) is judged with an RP3beta table as of the
    # cut, not cosine. Before the cut: users of i0 {u0, u1}, i1 {u0, u1}, i2 {u1}; deg(u0) = 2,
    # deg(u1) = 3; deg(i0, i1, i2) = 2, 2, 1. Source i0 ->
    #   i1: (u0: 1/2 * 1/2 + u1: 1/2 * 1/3) / deg(i1) 2 = 5/24;  i2: (u1: 1/2 * 1/3) / 1 = 1/6
    index = {"i0": 0, "i1": 1, "i2": 2}
    at = pd.Timestamp(10 * 86_400, unit="s", tz="UTC")
    m = _manifest("interactions")
    m["hybrid"]["neighbour_model"] = {"model": "rp3beta", "alpha": 1.0, "beta": 1.0, "topk": 5,
                                      "chosen_on": "validation", "validation": [], "skipped": []}
    parts = hybrid_parts_at(m, index, _events(), at)
    assert np.allclose(parts[1].scores([0], 3), [0.0, 5 / 24, 1 / 6], atol=1e-6)


def test_the_judges_bought_sets_are_capped_as_serving_caps_them() -> None:
    """Under the purchases source the judge's neighbour sources are the bought set serving holds:
    the ``set_max`` items with the newest purchases before the cut (a re-bought item counts at its
    newest purchase), then the items the catalogue knows."""
    from offline.pipeline.bundle_eval import newest_bought

    rows = [("u0", "i0", 1), ("u0", "i1", 2), ("u0", "i2", 3), ("u0", "i0", 4), ("u0", "gone", 5),
            ("u1", "i1", 1), ("u0", "i2", 20)]  # the last one is after the cut
    ev = pd.DataFrame({
        S.USER_ID: [r[0] for r in rows], S.ITEM_ID: [r[1] for r in rows],
        S.EVENT_TYPE: ["PURCHASE"] * len(rows),
        S.TIMESTAMP: pd.to_datetime([r[2] * 86_400 for r in rows], unit="s", utc=True),
    })
    index = {"i0": 0, "i1": 1, "i2": 2}
    at = pd.Timestamp(10 * 86_400, unit="s", tz="UTC")
    # u0's newest distinct purchases: gone (5), i0 (4), i2 (3), i1 (2)
    assert newest_bought(ev, index, at, 3) == {"u0": [0, 2], "u1": [1]}
    assert newest_bought(ev, index, at, 2) == {"u0": [0], "u1": [1]}
    assert newest_bought(ev, index, at, 200) == {"u0": [0, 1, 2], "u1": [1]}
