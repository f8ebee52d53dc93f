"""The neighbour model chosen on validation (offline/model/neighbour_choice.py)."""

from __future__ import annotations

import numpy as np
import pytest

from offline.model.item_graph import NeighbourModel
from offline.model.neighbour_choice import TREND_RATIOS, candidates, choose, choose_neighbour_model
from offline.train_config import TrainConfig


def _hybrid(**kw):
    return TrainConfig(retrieval={"hybrid": {"neighbours": 3, **kw}}).retrieval.hybrid


def test_choose_takes_the_best_and_keeps_the_earlier_on_a_tie() -> None:
    a = NeighbourModel("cosine", {"neighbours": 3})
    b = NeighbourModel("rp3beta", {"alpha": 0.5, "beta": 0.3, "topk": 3})
    c = NeighbourModel("rp3beta", {"alpha": 1.0, "beta": 0.3, "topk": 3})
    scores = {a.label(): 0.10, b.label(): 0.12, c.label(): 0.12}
    best, points = choose(lambda m: {"ndcg@10": scores[m.label()]}, [a, b, c])
    assert best == b  # 0.12 first reached by b; c only ties it
    assert [p["ndcg@10"] for p in points] == [0.10, 0.12, 0.12]
    assert points[1] == {"model": "rp3beta", "alpha": 0.5, "beta": 0.3, "topk": 3, "ndcg@10": 0.12}
    best, _ = choose(lambda m: {"ndcg@10": 0.0}, [a, b])
    assert best == a  # nothing beats cosine: cosine stays


def test_candidates_follow_the_config_and_skip_ease_on_a_large_catalogue(caplog) -> None:
    h = _hybrid(rp3beta_alpha=[0.5, 1.0], rp3beta_beta=[0.0, 0.5], ease_lambda=[10.0], ease_max_items=100)
    models, skipped = candidates(h, 50)
    assert [m.kind for m in models] == ["cosine"] + ["rp3beta"] * 4 + ["ease"]
    assert [(m.params["alpha"], m.params["beta"]) for m in models[1:5]] == [
        (0.5, 0.0), (0.5, 0.5), (1.0, 0.0), (1.0, 0.5)]
    assert all(m.params.get("topk", m.params.get("neighbours")) == 3 for m in models)
    assert skipped == []
    with caplog.at_level("WARNING"):
        models, skipped = candidates(h, 101)
    assert [m.kind for m in models] == ["cosine"] + ["rp3beta"] * 4
    assert len(skipped) == 1 and "101 items > retrieval.hybrid.ease_max_items 100" in skipped[0]
    assert "ease_max_items" in caplog.text  # said loudly, not only recorded


def test_config_names_the_field_of_a_bad_model() -> None:
    with pytest.raises(ValueError, match="neighbour_models"):
        TrainConfig(retrieval={"hybrid": {"neighbour_models": ["cosine", "slim"]}})
    with pytest.raises(ValueError, match="rp3beta_alpha"):
        TrainConfig(retrieval={"hybrid": {"rp3beta_alpha": [0.0]}})


def test_the_recorded_choice_is_the_best_validation_score(tmp_path) -> None:
    # on a tiny random shop: every candidate's recorded score is its validation score recomputed
    # here from the fitted events only (neighbours + trend, the best trend ratio), and the chosen
    # model is the best of them
    from fulcrum.core.hybrid import HybridWeights
    from offline.model.holdout import DiscoverySlice
    from offline.model.hybrid_fit import neighbour_table, slice_evaluator
    from offline.model.interactions import PURCHASE_CODE, load_interactions
    from offline.model.trend_prior import trend_source
    from tests.offline.model.test_hybrid import _prepared_folder

    _prepared_folder(tmp_path, np.random.default_rng(3))
    inter = load_interactions(tmp_path)
    cut = inter.validation_cuts(10.0)
    fit = (inter.ev_time < cut[inter.ev_user]) & (inter.ev_type == PURCHASE_CODE)
    val = (inter.ev_time >= cut[inter.ev_user]) & (inter.ev_type == PURCHASE_CODE)
    sl = DiscoverySlice.build(inter, cut, (inter.ev_user[val], inter.ev_item[val]), 5)
    assert len(sl.warm) > 5
    cfg = TrainConfig(retrieval={"hybrid": {"neighbours": 3, "rp3beta_alpha": [0.5, 1.0],
                                            "rp3beta_beta": [0.0, 0.7], "ease_lambda": [1.0, 30.0]}})
    choice = choose_neighbour_model(cfg, inter, fit, fit, sl)

    u, i, t = inter.ev_user[fit], inter.ev_item[fit], inter.ev_time[fit]
    trend = trend_source(inter, u, i, t, 14.0)
    points = [HybridWeights(1.0, r) for r in TREND_RATIOS]
    zeros = np.zeros((inter.n_items, 1))
    expected = []
    for p in choice.points:
        model = NeighbourModel.from_record({k: v for k, v in p.items() if k not in ("ndcg@10", "trend_ratio",
                                                                                   "build_s")})
        table = neighbour_table(u, i, len(inter.user_ids), inter.n_items, 3, model)
        ev = slice_evaluator(sl, zeros, lambda e, *_: np.zeros((len(e), 1)), table, trend, points)
        expected.append((model, max(ev(w)["ndcg@10"] for w in points)))
    assert len(expected) == 1 + 4 + 2
    assert [p["ndcg@10"] for p in choice.points] == pytest.approx([s for _, s in expected], abs=1e-12)
    best = max(s for _, s in expected)
    assert choice.model == next(m for m, s in expected if s >= best - 1e-12)
    assert len({round(s, 9) for _, s in expected}) > 1  # the fixture separates the models
    assert choice.chosen_on.startswith("validation")
    record = choice.record()
    assert NeighbourModel.from_record(record) == choice.model and record["validation"] == choice.points


def test_without_validation_the_first_candidate_serves(tmp_path) -> None:
    from offline.model.interactions import PURCHASE_CODE, load_interactions
    from tests.offline.model.test_hybrid import _prepared_folder

    _prepared_folder(tmp_path, np.random.default_rng(3))
    inter = load_interactions(tmp_path)
    p = inter.ev_type == PURCHASE_CODE
    choice = choose_neighbour_model(TrainConfig(), inter, p, p, None)
    assert choice.model == NeighbourModel("cosine", {"neighbours": 20})
    assert choice.points == [] and "no validation" in choice.chosen_on
