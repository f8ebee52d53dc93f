"""The validation grid with the graded repeat term (offline/model/hybrid_fit.py): the fast grid
path (``slice_evaluator``: a top k per repeat shape from a shortlist, offline/model/grid_topk.py)
scores every (weights, shape) point exactly as the plain path (``discovery_eval`` with
``bought_scores`` fed the slice's profiles), on a multi-behaviour log under the interactions
protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.core.hybrid import HybridWeights
from fulcrum.core.neighbour_source import INTERACTIONS
from fulcrum.core.repeat_term import RepeatShape
from tests.offline.model.test_hybrid import _grid_parts, _prepared_folder


def test_slice_evaluator_matches_discovery_eval_with_graded_shapes(tmp_path) -> None:
    from offline.model.holdout import DiscoverySlice, discovery_eval
    from offline.model.hybrid_fit import bought_scores, slice_evaluator
    from offline.model.interactions import load_interactions
    from offline.model.validation_protocol import ValidationProtocol

    rng = np.random.default_rng(4)
    _prepared_folder(tmp_path, rng)
    ev = pd.read_parquet(tmp_path / S.EVENTS_FILE)  # make most train events views and carts
    ev[S.EVENT_TYPE] = rng.choice(["VIEW", "ADD_TO_CART", "PURCHASE"], len(ev), p=[0.5, 0.2, 0.3])
    ev.loc[ev[S.SPLIT] == "test", S.EVENT_TYPE] = "PURCHASE"
    ev.to_parquet(tmp_path / S.EVENTS_FILE)
    inter = load_interactions(tmp_path)
    cut, pairs, vecs, encode, table, trend = _grid_parts(inter, rng)
    protocol = ValidationProtocol("interactions", "test")
    sl = DiscoverySlice.build(inter, cut, pairs, 5, protocol=protocol)
    assert len(sl.warm) > 5 and sl.profiles is not None and len(sl.profiles) == len(sl.warm)
    graded = [RepeatShape(True, 0.0, 1.0), RepeatShape(True, 1.0, 4.0)]
    points = [HybridWeights(0.5, 0.7, INTERACTIONS)] + [
        HybridWeights(a, b, INTERACTIONS, c, s)
        for a, b, c in ((0.0, 0.0, 2.0), (0.5, 0.7, 1.0)) for s in graded
    ]
    fast = slice_evaluator(sl, vecs, encode, table, trend, points)
    results = {}
    for w in points:
        slow = discovery_eval(inter, vecs, encode, cut, pairs, 5, adjust=bought_scores(table, trend, w),
                              protocol=protocol)
        assert fast(w) == pytest.approx(slow, abs=1e-12)
        results[w] = slow["ndcg@10"]
    # the shapes are not the same score (the grid chooses between real alternatives)
    assert len(set(results.values())) > 1
