"""Named baselines and `run_baselines`, the one call `fulcrum evaluate` (and the quality
benchmark) makes for them.

Each name maps to a :class:`offline.baselines.tuning.Spec`: its reference settings (used with
``tune=False``, and the first grid point), its small validation grid and knobs. With
``tune=True`` every grid is searched on ``offline.eval.slices.validation_of(prepared)`` (carved
from the train side, never the test) and the winner is refitted on the full train side.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from offline.baselines.als import ALS
from offline.baselines.bpr import BPR
from offline.baselines.interactions import Interactions
from offline.baselines.itemknn import ItemKNN
from offline.baselines.popularity import Popularity
from offline.baselines.repurchase import Repurchase
from offline.baselines.repurchase_graded import DEFAULT_KNOB, ENGAGED_WEIGHTS, HALF_LIVES, GradedRepurchase
from offline.baselines.rp3beta import RP3beta
from offline.baselines.sasrec import SASRec
from offline.baselines.scoring import ScoreRecommender
from offline.baselines.trend import TrendBlend
from offline.baselines.tuning import Spec, choose
from offline.baselines.zeroshot import NoItemText, ZeroShotText
from offline.eval.harness import evaluate_recommender
from offline.eval.protocol import Protocol, protocol_for
from offline.eval.slices import user_cuts, validation_of

log = logging.getLogger(__name__)

#: the trend weights tried on validation: the hybrid's own grid (offline/train_config.py), extended
#: past 1.0 because on Online Retail the best baseline weight sat at its edge
TREND_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class Context:
    """What some baselines need beyond the purchases."""

    threads: int = 2
    item_text: dict[str, str] | None = None
    text_model: Path | None = None
    embedding_cache: Path | None = None
    #: SASRec's training budget per fit (CPU seconds) and its epochs when not tuned
    sasrec_seconds: float = 150.0
    sasrec_epochs: int = 30


def _grid(**axes) -> tuple[dict, ...]:
    points: list[dict] = [{}]
    for key, values in axes.items():
        points = [{**p, key: v} for p in points for v in values]
    return tuple(points)


def _sasrec(ctx: Context, p: dict) -> SASRec:
    """``epochs`` given: train exactly that many (the refit, or untuned); none: the validation
    run, bounded by ``ctx.sasrec_seconds`` and stopped early on the validation NDCG@10."""
    p = dict(p)
    epochs = p.pop("epochs", None)
    return SASRec(threads=ctx.threads, max_seconds=ctx.sasrec_seconds,
                  max_epochs=int(epochs) if epochs else 200, **p)


def specs(ctx: Context) -> dict[str, Spec]:
    t = ctx.threads
    als = lambda p: ALS(threads=t, **p)  # noqa: E731
    knn = lambda p: ItemKNN(**p)  # noqa: E731
    als_default = {"factors": 64, "regularization": 1.0, "iterations": 30}
    als_grid = _grid(factors=(64, 128), regularization=(1.0, 0.1, 10.0), iterations=(30,))
    knn_grid = _grid(n_neighbours=(20, 10, 50, 100))
    rp3 = lambda p: RP3beta(**p)  # noqa: E731
    rp3_default = {"alpha": 0.5, "beta": 0.5, "topk": 20}
    # the hybrid's rp3beta grid (offline/train_config.py) plus a wider neighbourhood
    rp3_grid = _grid(alpha=(0.5, 1.0), beta=(0.5, 0.0, 0.3, 0.7), topk=(20, 100))
    trend_knobs = tuple({"trend_weight": w} for w in TREND_GRID)
    return {
        "popularity": Spec(make=lambda p: Popularity()),
        "itemknn": Spec(make=knn, default={"n_neighbours": 20}, grid=knn_grid),
        "als": Spec(make=als, default=als_default, grid=als_grid),
        "bpr": Spec(make=lambda p: BPR(threads=t, **p),
                    default={"factors": 64, "learning_rate": 0.01, "regularization": 0.001,
                             "iterations": 100},
                    grid=_grid(factors=(64, 128), learning_rate=(0.01, 0.05), regularization=(0.001,),
                               iterations=(100,))),
        "zeroshot-text": Spec(
            make=lambda p: ZeroShotText(ctx.item_text or {}, model_path=ctx.text_model,
                                        cache_dir=ctx.embedding_cache, threads=t),
            default_knob={"half_life_days": 7.0},
            knobs=tuple({"half_life_days": h} for h in (7.0, 1.0, 30.0, math.inf))),
        "sasrec": Spec(make=lambda p: _sasrec(ctx, p), default={"epochs": ctx.sasrec_epochs}, monitored=True),
        "als+trend": Spec(make=lambda p: TrendBlend(als(p)), default=als_default, grid=als_grid,
                          default_knob={"trend_weight": 0.1}, knobs=trend_knobs),
        "itemknn+trend": Spec(make=lambda p: TrendBlend(knn(p)), default={"n_neighbours": 20}, grid=knn_grid,
                              default_knob={"trend_weight": 0.1}, knobs=trend_knobs),
        "rp3beta": Spec(make=rp3, default=rp3_default, grid=rp3_grid),
        "rp3beta+trend": Spec(make=lambda p: TrendBlend(rp3(p)), default=rp3_default, grid=rp3_grid,
                              default_knob={"trend_weight": 0.1}, knobs=trend_knobs),
        "repurchase": Spec(make=lambda p: Repurchase()),
        "repurchase-graded": Spec(
            make=lambda p: GradedRepurchase(), default_knob=dict(DEFAULT_KNOB),
            knobs=_grid(half_life_days=HALF_LIVES, engaged_weight=ENGAGED_WEIGHTS)),
    }


BASELINES: tuple[str, ...] = tuple(specs(Context()))
#: what the quality benchmark runs (repurchase only means something in the repeat-allowed variant)
COMPARISON: tuple[str, ...] = ("popularity", "itemknn", "als", "bpr", "zeroshot-text", "sasrec",
                               "als+trend", "itemknn+trend", "rp3beta", "rp3beta+trend")


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"baseline: {unknown} not known; choose from {sorted(BASELINES)}")
    return list(dict.fromkeys(names))


def _validation(prepared, signal: str, protocol: Protocol) -> tuple:
    """(validation PreparedData, its protocol -- the same variant as ``protocol`` --, its train
    interactions)."""
    vp = validation_of(prepared)
    vprot = protocol_for(vp, repeat_allowed=protocol.repeat_allowed, history=protocol.history)
    return vp, vprot, Interactions.from_events(vp.train_events(), signal, cuts=user_cuts(vp))


def run_baselines(
    prepared,
    names: Sequence[str],
    k_list: Sequence[int] = (10, 20),
    threads: int = 2,
    protocol: Protocol | None = None,
    on_start: Callable[[str], None] | None = None,
    tune: bool = False,
    context: Context | None = None,
    per_user: bool = False,
    skip_inapplicable: bool = False,
    signal: str = "purchases",
) -> dict[str, dict]:
    """Fit each named baseline on the train purchases and evaluate it with the harness.

    Returns ``{name: {"settings", "tuning", "fit_seconds", "score_seconds", "total_seconds",
    "metrics"}}``; with ``skip_inapplicable`` a baseline the data cannot support (zero-shot text
    on a catalogue without text) gives ``{"skipped": reason}`` instead of raising. ``signal``:
    what the baselines learn from (``offline.baselines.interactions.SIGNALS``).
    """
    names = check_names(names)
    ctx = context or Context(threads=threads)
    if ctx.item_text is None:
        ctx = Context(**{**ctx.__dict__, "item_text": prepared.item_text()})
    table = specs(ctx)
    protocol = protocol or protocol_for(prepared)
    interactions = Interactions.from_events(prepared.train_events(), signal, cuts=user_cuts(prepared))
    val = None
    chosen: dict[str, dict] = {}
    results: dict[str, dict] = {}
    for name in names:
        if on_start is not None:
            on_start(name)
        spec = table[name]
        started = time.perf_counter()
        try:
            tuning = {"tuned": False}
            params = dict(spec.default)
            knob = spec.default_knob
            if tune and (len(spec.grid) > 1 or spec.knobs or spec.monitored):
                val = val or _validation(prepared, signal, protocol)
                grid = (chosen[spec.base],) if spec.base in chosen else spec.grid
                choice = choose(spec, grid, val[2], val[0], val[1])
                params, knob = choice.params, choice.knob
                tuning = {"tuned": True, "validation": val[0].split.protocol,
                          "validation_warm_users": len(val[1].warm_users),
                          "chosen": {**params, **(knob or {})},
                          "grid": choice.points, "seconds": round(choice.seconds, 3)}
            chosen[name] = params
            model = spec.make(dict(params))
            fit_started = time.perf_counter()
            model.fit(interactions)
            fit_seconds = time.perf_counter() - fit_started
        except NoItemText as e:
            if not skip_inapplicable:
                raise
            results[name] = {"skipped": str(e)}
            continue
        if knob is not None:
            model.set_knob(**knob)
        recommend = ScoreRecommender(model, interactions, protocol.candidate_pool)
        metrics = evaluate_recommender(recommend, prepared, k_list=k_list, protocol=protocol,
                                       per_user=per_user)
        total = time.perf_counter() - started
        log.info("baseline %s: NDCG@10 %.4f in %.1f s", name, metrics["warm"].get("ndcg@10", math.nan), total)
        results[name] = {
            "settings": {**model.settings, "signal": signal},
            "tuning": tuning,
            "fit_seconds": round(fit_seconds, 3),
            "score_seconds": metrics["recommend_seconds"],
            "total_seconds": round(total, 3),
            "metrics": metrics,
        }
    return results
