"""Baselines on small constructed data: they run, and beat a random recommender where they
obviously should."""

from __future__ import annotations

import random

import numpy as np
import pytest
from typer.testing import CliRunner

from offline.baselines.interactions import Interactions
from offline.baselines.itemknn import cosine_neighbours
from offline.baselines.registry import check_names, run_baselines
from offline.baselines.scoring import top_k_indices
from offline.data.prepare import write_prepared
from offline.eval.harness import evaluate_recommender
from tests.fixtures.purchases import prepared_from


def community_data(seed: int = 3):
    """6 groups of 8 items, 8 users per group. Train: 4 items of the user's group; test: 3 others of
    the same group. Plus a bestseller ("best") that users 0-5 of each group bought in train and
    users 6-7 buy in test. Co-purchase structure is everything here; popularity is not."""
    rng = random.Random(seed)
    train, test = [], []
    for g in range(6):
        items = [f"g{g}-{j}" for j in range(8)]
        for u in range(8):
            user = f"u{g}-{u}"
            chosen = rng.sample(items, 7)
            train += [(user, i) for i in chosen[:4]]
            test += [(user, i) for i in chosen[4:]]
    # a bestseller most users bought in train; users who had not get it in test
    for g in range(6):
        for u in range(8):
            user = f"u{g}-{u}"
            (train if u < 6 else test).append((user, "best"))
    return prepared_from(train, test)


def random_recommender(pool: list[str], seed: int = 0):
    rng = random.Random(seed)

    def recommend(user_ids, k, exclude):
        out = []
        for u in user_ids:
            allowed = [i for i in pool if i not in exclude.get(u, ())]
            out.append(rng.sample(allowed, min(k, len(allowed))))
        return out

    return recommend


@pytest.fixture(scope="module")
def data():
    return community_data()


def zipf_data(seed: int = 5):
    """40 items whose popularity falls off as 1/rank, in train and test alike: each of 60 users buys
    6 items in train and 4 in test, drawn by those weights (repeats allowed, so some are re-buys)."""
    rng = random.Random(seed)
    items = [f"z{j}" for j in range(40)]
    weights = [1 / (j + 1) for j in range(40)]
    train, test = [], []
    for u in range(60):
        train += [(f"u{u}", i) for i in rng.choices(items, weights, k=6)]
        test += [(f"u{u}", i) for i in rng.choices(items, weights, k=4)]
    return prepared_from(train, test)


def random_ndcg(data) -> float:
    pool = sorted(data.train_purchases()["item_id"].unique())
    scores = [evaluate_recommender(random_recommender(pool, s), data, k_list=(10,))["warm"]["ndcg@10"]
              for s in range(5)]
    return float(np.mean(scores))


@pytest.mark.parametrize(("name", "make"), [
    ("popularity", zipf_data), ("itemknn", community_data), ("als", community_data),
])
def test_baseline_beats_random(name, make):
    data = make()
    chance = random_ndcg(data)
    result = run_baselines(data, [name], k_list=(10,), threads=1)[name]
    warm = result["metrics"]["warm"]
    assert result["metrics"]["checks"]["excluded_recommended"] == 0
    assert result["metrics"]["checks"]["short_lists"] == 0
    assert warm["users"] >= 40
    # "obvious": at least 0.1 NDCG above the mean of five random recommenders, and 1.5 times it
    assert warm["ndcg@10"] > chance + 0.1 and warm["ndcg@10"] > 1.5 * chance, (name, warm["ndcg@10"], chance)
    assert result["fit_seconds"] >= 0 and result["settings"]


def test_itemknn_finds_the_whole_group(data):
    # a user's remaining group items are the only items with co-buyers in common: the 3 targets are
    # among the 4 unbought group items (+ "best" for users 6, 7), so recall@10 is 1 for every user
    result = run_baselines(data, ["itemknn"], k_list=(10,))["itemknn"]
    assert result["metrics"]["warm"]["recall@10"] == pytest.approx(1.0)


def test_popularity_recommends_the_bestseller_first(data):
    from offline.baselines.popularity import Popularity
    from offline.baselines.scoring import ScoreRecommender

    inter = Interactions.from_purchases(data.train_purchases())
    model = Popularity()
    model.fit(inter)
    recs = ScoreRecommender(model, inter)(["u0-7", "someone-new"], 3, {"u0-7": set()})
    assert recs[0][0] == "best" and recs[1][0] == "best"


def test_cosine_neighbours_hand_worked():
    from scipy import sparse

    # users x items: u0 buys {0, 1}, u1 buys {0, 1, 2}, u2 buys {2}
    x = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32))
    sims = cosine_neighbours(x, 1).toarray()
    # cos(0,1) = 2 / sqrt(2*2) = 1; cos(0,2) = cos(1,2) = 1 / sqrt(2*2) = 0.5
    # one neighbour each: 0 -> 1 (1.0), 1 -> 0 (1.0), 2 -> 0 (0.5; tie with 1 goes to the lower id)
    assert sims == pytest.approx(np.array([[0, 1, 0], [1, 0, 0], [0.5, 0, 0]]))


def test_top_k_indices_skips_excluded_and_orders_ties():
    scores = np.array([0.5, -np.inf, 0.5, 0.9])
    assert top_k_indices(scores, 3).tolist() == [3, 0, 2]
    assert top_k_indices(np.array([-np.inf]), 2).tolist() == []


def test_unknown_baseline_name():
    with pytest.raises(ValueError, match="nope"):
        check_names(["popularity", "nope"])


def test_evaluate_cli_writes_json(data, tmp_path):
    import json

    from fulcrum.cli import app

    write_prepared(data, tmp_path / "data")
    args = ["evaluate", "--data", str(tmp_path / "data"), "--baseline", "popularity", "--baseline", "itemknn",
            "--out", str(tmp_path / "eval")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "NDCG@10" in result.output and "itemknn" in result.output
    payload = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert set(payload["results"]) == {"popularity", "itemknn"}
    assert payload["results"]["itemknn"]["metrics"]["warm"]["users"] == 48
    bad = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "missing"), "--baseline", "als"])
    assert bad.exit_code == 2 and "missing" in bad.output


def test_repurchase_ranks_own_history_by_count():
    from offline.baselines.repurchase import Repurchase
    from offline.baselines.scoring import ScoreRecommender

    # u1 bought b three times and a once; c is the most popular item overall (3 buyers)
    data = prepared_from([("u1", "a"), ("u1", "b"), ("u1", "b"), ("u1", "b"),
                          ("u2", "c"), ("u3", "c"), ("u4", "c")], [("u1", "b")])
    inter = Interactions.from_purchases(data.train_purchases())
    model = Repurchase()
    model.fit(inter)
    fn = ScoreRecommender(model, inter)
    # own history first (b: 3 rows, a: 1 row), then popularity (c)
    assert fn(["u1"], 3, {}) == [["b", "a", "c"]]
    # with the history excluded it falls back to popularity
    assert fn(["u1"], 1, {"u1": {"a", "b"}}) == [["c"]]
