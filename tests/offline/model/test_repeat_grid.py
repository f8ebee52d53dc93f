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


def _multi_behaviour_slice(tmp_path, seed: int):
    """(interactions, the validation slice, its protocol (interactions), _grid_parts) of a
    prepared folder whose train events are mostly views and carts (test events purchases)."""
    from offline.model.holdout import DiscoverySlice
    from offline.model.interactions import load_interactions
    from offline.model.validation_protocol import ValidationProtocol

    rng = np.random.default_rng(seed)
    _prepared_folder(tmp_path, rng)
    ev = pd.read_parquet(tmp_path / S.EVENTS_FILE)  # make most train events views and carts
    ev[S.EVENT_TYPE] = rng.choice(["VIEW", "ADD_TO_CART", "PURCHASE"], len(ev), p=[0.5, 0.2, 0.3])
    ev.loc[ev[S.SPLIT] == "test", S.EVENT_TYPE] = "PURCHASE"
    ev.to_parquet(tmp_path / S.EVENTS_FILE)
    inter = load_interactions(tmp_path)
    parts = _grid_parts(inter, rng)
    cut, pairs = parts[0], parts[1]
    protocol = ValidationProtocol("interactions", "test")
    return inter, DiscoverySlice.build(inter, cut, pairs, 5, protocol=protocol), protocol, parts


def test_slice_evaluator_matches_discovery_eval_with_graded_shapes(tmp_path) -> None:
    from offline.model.holdout import discovery_eval
    from offline.model.hybrid_fit import bought_scores, slice_evaluator

    inter, sl, protocol, (cut, pairs, vecs, encode, table, trend) = _multi_behaviour_slice(tmp_path, seed=4)
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


def test_prepared_shortlists_score_any_pass_as_the_plain_path(tmp_path) -> None:
    """The search's stages score from one ``SliceShortlists`` (offline/model/grid_scores.py): any
    points, in any passes, extension weights included, as the plain path scores them; a shape
    the shortlists were not cut for is refused."""
    from offline.model.grid_scores import SliceShortlists
    from offline.model.holdout import discovery_eval
    from offline.model.hybrid_fit import bought_scores

    inter, sl, protocol, (cut, pairs, vecs, encode, table, trend) = _multi_behaviour_slice(tmp_path, seed=5)
    graded = (RepeatShape(True, 0.0, 1.0), RepeatShape(True, 1.0, 4.0))
    prepared = SliceShortlists(sl, vecs, encode, table, trend, graded)
    first = [HybridWeights(0.0, 0.0, INTERACTIONS), HybridWeights(0.5, 0.7, INTERACTIONS, 2.0, graded[0])]
    later = [HybridWeights(0.5, 0.7, INTERACTIONS, 64.0, s) for s in graded] + [
        HybridWeights(3.0, 0.0, INTERACTIONS, 1.0, graded[1])]
    scored = {**prepared.evaluate(first), **prepared.evaluate(later)}
    assert prepared.evaluate(first) == {w: scored[w] for w in first}  # a pass again: the same
    for w in first + later:
        slow = discovery_eval(inter, vecs, encode, cut, pairs, 5, adjust=bought_scores(table, trend, w),
                              protocol=protocol)
        assert scored[w] == pytest.approx(slow, abs=1e-12)
    with pytest.raises(ValueError, match="not prepared"):
        prepared.evaluate([HybridWeights(0.0, 0.0, INTERACTIONS, 1.0, RepeatShape(True, 7.0, 2.0))])
