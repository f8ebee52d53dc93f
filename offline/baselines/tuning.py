"""Choose a baseline's settings on the validation slice (never the test): small grids, one rule.

A baseline is described by a :class:`Spec`:

- ``grid``: settings that need a refit (ALS factors, BPR learning rate, ...), tried in order;
- ``knobs``: settings applied after one fit with ``model.set_knob(**knob)`` (the trend weight,
  the zero-shot half-life), tried for every grid point without refitting;
- ``monitored``: the model's ``fit`` takes a ``monitor`` (validation NDCG@10 of the model as it
  trains) and records ``best_epochs`` (SASRec's early stopping); the refit runs that many epochs.

The point with the best validation NDCG@10 wins; ties go to the earlier point (grids list the
reference settings first). Then the winner is refitted on the full train side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offline.baselines.interactions import Interactions
from offline.baselines.scoring import ScoreRecommender
from offline.eval.harness import evaluate_recommender

METRIC = "ndcg@10"


class TuningError(ValueError):
    """The validation slice cannot rank settings (e.g. it has no warm user)."""


@dataclass(frozen=True)
class Spec:
    make: Callable[[dict[str, Any]], Any]
    default: dict[str, Any] = field(default_factory=dict)
    grid: tuple[dict[str, Any], ...] = ({},)
    default_knob: dict[str, Any] | None = None
    knobs: tuple[dict[str, Any], ...] = ()
    monitored: bool = False
    #: another baseline whose tuned settings this one reuses instead of searching ``grid`` again
    base: str | None = None


@dataclass(frozen=True)
class Choice:
    params: dict[str, Any]
    knob: dict[str, Any] | None
    points: list[dict[str, Any]]
    seconds: float


def validation_score(model, interactions: Interactions, prepared, protocol) -> float:
    result = evaluate_recommender(ScoreRecommender(model, interactions, protocol.candidate_pool), prepared,
                                  k_list=(10,), protocol=protocol)
    return float(result["warm"][METRIC])


def choose(spec: Spec, grid: tuple[dict[str, Any], ...], interactions: Interactions, prepared,
           protocol) -> Choice:
    """Fit every grid point on the validation train side, score every knob, keep the best."""
    if not protocol.warm_users:
        raise TuningError(f"validation slice {prepared.split.protocol!r} has no warm user to tune on "
                          "(too little history before it); run without tuning (--no-tune) to use the "
                          "reference settings")
    started = time.perf_counter()
    points: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], dict[str, Any] | None] | None = None
    for params in grid:
        model = spec.make(dict(params))
        if spec.monitored:
            model.fit(interactions, monitor=lambda m: validation_score(m, interactions, prepared, protocol))
            if model.best_epochs is None:
                raise TuningError(f"{model.name}: no validation evaluation happened within its time "
                                  "budget; raise max_seconds or lower eval_every")
            params = {**params, "epochs": model.best_epochs}
        else:
            model.fit(interactions)
        for knob in spec.knobs or (None,):
            if knob is not None:
                model.set_knob(**knob)
            score = validation_score(model, interactions, prepared, protocol)
            points.append({**params, **(knob or {}), f"validation_{METRIC}": score})
            if best is None or score > best[0] + 1e-12:
                best = (score, dict(params), dict(knob) if knob is not None else None)
    if best is None:
        raise TuningError("empty grid: give at least one setting")
    return Choice(params=best[1], knob=best[2], points=points, seconds=time.perf_counter() - started)
