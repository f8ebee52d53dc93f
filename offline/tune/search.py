"""Run an Optuna TPE study over the ranking head within a trial and time budget.

The study sees only the fit and validation slices (``RankSlices.fit`` / ``.val``); the test rows
are never touched here. The first trial is the base configuration itself (its values that lie inside
the space), so the best result is never worse than that starting point on validation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offline.ranking.config import RankerConfig
from offline.ranking.rows import RankRows
from offline.tune.objective import score_config
from offline.tune.space import SEARCH_METHODS, in_space, suggest_ranker

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    best_config: RankerConfig
    best_value: float
    best_metrics: dict[str, Any]
    n_trials: int
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def run_search(
    fit: RankRows,
    val: RankRows,
    base: RankerConfig,
    n_trials: int = 20,
    timeout: float | None = 600.0,
    method: str | None = None,
    methods: tuple[str, ...] = SEARCH_METHODS,
    seed: int = 0,
    purchase_weight: float = 1.0,
    on_trial: Callable[[int, float, float], None] | None = None,
) -> SearchResult:
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("tuning needs optuna: pip install 'fulcrum[train]'") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    first = in_space(
        {
            "lr": base.lr,
            "hidden": base.hidden,
            "layers": base.layers,
            "dropout": base.dropout,
            "weight_decay": base.weight_decay,
        }
    )
    if method is None and base.method in methods:
        first["method"] = base.method
    if method is None or method == base.method:
        study.enqueue_trial(first, skip_if_exists=True)
    records: list[dict[str, Any]] = []

    def objective(trial) -> float:
        overrides = suggest_ranker(trial, method, methods)
        t = time.perf_counter()
        value, metrics = score_config(base, overrides, fit, val, purchase_weight)
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("metrics", metrics)
        records.append(
            {"number": trial.number, "value": value, "seconds": time.perf_counter() - t, **overrides}
        )
        log.info("trial %d: %.4f %s", trial.number, value, overrides)
        return value

    def callback(study, trial) -> None:
        if on_trial:
            on_trial(
                trial.number + 1, trial.value if trial.value is not None else float("nan"), study.best_value
            )

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback], gc_after_trial=True)
    best = study.best_trial
    cfg = RankerConfig.from_dict({**base.to_dict(), **best.user_attrs["overrides"]})
    return SearchResult(
        cfg,
        float(best.value),
        best.user_attrs["metrics"],
        len(study.trials),
        time.perf_counter() - t0,
        records,
    )
