"""`fulcrum tune --target retrieval`: Optuna (TPE) over the retrieval model's main knobs.

Each trial is a real training run stopped after validation (``train_run(validation_only=True)``):
the two towers are fitted on train minus the validation slice and scored on that slice, with the
hybrid weights chosen inside the trial as `fulcrum train` chooses them. The objective is the
validation NDCG@10 of the score serving would use (the hybrid one when enabled). The text stage
does not depend on the searched knobs, so it runs once and is reused by every trial (with the
random state it leaves behind, so a cached trial draws what a fresh run of its config draws). The
first trial is the base configuration's point of the space (``base_point``: values outside a
range are clipped to it, a categorical value outside its choices replaced by the default's), so
the best result is never worse than that point on validation. The test split is never read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.train_config import TrainConfig, config_from_dict

log = logging.getLogger(__name__)

#: the searched knobs of ``retrieval`` and their ranges
LR_RANGE = (1e-3, 1e-2)
TEMPERATURE_RANGE = (0.03, 0.15)
NEGATIVES_CHOICES = (256, 512, 1024, 2048)
ID_DROPOUT_RANGE = (0.0, 0.4)
HORIZON_CHOICES = (0.0, 3.0, 7.0, 14.0)
EPOCHS_RANGE = (6, 14)


def suggest_retrieval(trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", *LR_RANGE, log=True),
        "temperature": trial.suggest_float("temperature", *TEMPERATURE_RANGE, log=True),
        "num_negatives": trial.suggest_categorical("num_negatives", list(NEGATIVES_CHOICES)),
        "id_dropout": trial.suggest_float("id_dropout", *ID_DROPOUT_RANGE),
        "horizon_days": trial.suggest_categorical("horizon_days", list(HORIZON_CHOICES)),
        "epochs": trial.suggest_int("epochs", *EPOCHS_RANGE),
    }


def base_point(cfg: TrainConfig) -> dict[str, Any]:
    """The base config's values of the searched knobs (clipped into the space)."""
    r = cfg.retrieval

    def clip(v: float, lo: float, hi: float) -> float:
        return min(max(v, lo), hi)

    return {
        "lr": clip(r.lr, *LR_RANGE),
        "temperature": clip(r.temperature, *TEMPERATURE_RANGE),
        "num_negatives": r.num_negatives if r.num_negatives in NEGATIVES_CHOICES else 1024,
        "id_dropout": clip(r.id_dropout, *ID_DROPOUT_RANGE),
        "horizon_days": r.horizon_days if r.horizon_days in HORIZON_CHOICES else 7.0,
        "epochs": int(clip(r.epochs, *EPOCHS_RANGE)),
    }


def with_retrieval(cfg: TrainConfig, knobs: dict[str, Any]) -> TrainConfig:
    """``cfg`` with its ``retrieval`` section updated (validated again)."""
    data = cfg.model_dump(mode="json")
    data["retrieval"] = {**data["retrieval"], **knobs}
    return config_from_dict(data)


def trial_score(info: dict[str, Any]) -> float:
    """Validation NDCG@10 of the serving score: the hybrid one when the run chose weights."""
    m = info["metrics"]
    if info.get("hybrid") and m.get("validation_hybrid"):
        return float(m["validation_hybrid"]["ndcg@10"])
    return float((m.get("validation") or {}).get("ndcg@10", 0.0))


@dataclass
class RetrievalSearchResult:
    best_config: TrainConfig
    best_value: float
    base_value: float
    n_trials: int
    seconds: float
    trials: list[dict[str, Any]] = field(default_factory=list)


def run_retrieval_search(
    data_dir: str | Path,
    base: TrainConfig,
    n_trials: int = 10,
    timeout: float | None = 1800.0,
    seed: int = 0,
    on_trial: Callable[[int, float, float], None] | None = None,
    train: Callable[..., Any] | None = None,
) -> RetrievalSearchResult:
    """``train`` defaults to ``offline.model.train_run.train_run`` (tests may pass a wrapper)."""
    try:
        import optuna
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("tuning needs optuna: pip install 'fulcrum[train]'") from e
    if base.retrieval.validation_days <= 0:
        raise ValueError("retrieval.validation_days: must be > 0 to tune (trials are scored on it)")
    if train is None:
        from offline.model.train_run import train_run as train
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(base_point(base))
    text_cache: dict = {}
    records: list[dict[str, Any]] = []

    def objective(trial) -> float:
        knobs = suggest_retrieval(trial)
        cfg = with_retrieval(base, knobs)
        t = time.perf_counter()
        run = train(data_dir, cfg, Path("."), progress=False, validation_only=True, text_cache=text_cache)
        if trial.number == 0 and not (run.info["metrics"].get("validation") or {}).get("users"):
            raise ValueError(
                "retrieval.validation_days: the validation slice has no warm user (a purchase before "
                "it and a new item in it), so trials cannot be scored; widen it"
            )
        value = trial_score(run.info)
        trial.set_user_attr("knobs", knobs)
        trial.set_user_attr("hybrid", run.info.get("hybrid"))
        records.append({"number": trial.number, "value": value, "seconds": time.perf_counter() - t, **knobs})
        log.info("retrieval trial %d: validation NDCG@10 %.4f %s", trial.number, value, knobs)
        return value

    def callback(study, trial) -> None:
        if on_trial is not None:
            on_trial(len(study.trials), float(trial.value or 0.0), float(study.best_value))

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback])
    best = study.best_trial
    return RetrievalSearchResult(
        best_config=with_retrieval(base, best.user_attrs["knobs"]),
        best_value=float(best.value),
        base_value=float(study.trials[0].value or 0.0),
        n_trials=len(study.trials),
        seconds=time.perf_counter() - t0,
        trials=records,
    )
