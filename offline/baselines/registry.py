"""Named baselines and `run_baselines`, the one call `fulcrum evaluate` makes for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from offline.baselines.als import ALS
from offline.baselines.interactions import Interactions
from offline.baselines.itemknn import ItemKNN
from offline.baselines.popularity import Popularity
from offline.baselines.repurchase import Repurchase
from offline.baselines.scoring import ScoreRecommender
from offline.eval.harness import evaluate_recommender
from offline.eval.protocol import Protocol, protocol_for

log = logging.getLogger(__name__)

BASELINES: dict[str, Callable[..., object]] = {
    "popularity": lambda threads: Popularity(),
    "itemknn": lambda threads: ItemKNN(n_neighbours=20),
    "als": lambda threads: ALS(factors=64, regularization=1.0, iterations=30, threads=threads),
    "repurchase": lambda threads: Repurchase(),
}


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"baseline: {unknown} not known; choose from {sorted(BASELINES)}")
    return list(dict.fromkeys(names))


def run_baselines(
    prepared,
    names: Sequence[str],
    k_list: Sequence[int] = (10, 20),
    threads: int = 2,
    protocol: Protocol | None = None,
    on_start: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """Fit each named baseline on the train purchases and evaluate it with the harness.

    Returns ``{name: {"settings", "fit_seconds", "total_seconds", "metrics": harness result}}``.
    """
    names = check_names(names)
    protocol = protocol or protocol_for(prepared)
    interactions = Interactions.from_purchases(prepared.train_purchases())
    results: dict[str, dict] = {}
    for name in names:
        if on_start is not None:
            on_start(name)
        model = BASELINES[name](threads)
        started = time.perf_counter()
        model.fit(interactions)
        fitted = time.perf_counter()
        metrics = evaluate_recommender(ScoreRecommender(model, interactions), prepared, k_list=k_list,
                                       protocol=protocol)
        total = time.perf_counter() - started
        ndcg = metrics["warm"].get("ndcg@10", float("nan"))
        log.info("baseline %s: NDCG@10 %.4f in %.1f s", name, ndcg, total)
        results[name] = {
            "settings": dict(model.settings),
            "fit_seconds": round(fitted - started, 3),
            "total_seconds": round(total, 3),
            "metrics": metrics,
        }
    return results
