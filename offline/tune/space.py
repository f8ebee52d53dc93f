"""The search space: the ranking head's main knobs and each imbalance method's own parameters.

``suggest_ranker`` draws one configuration from an Optuna trial; a fixed ``method`` restricts
the search to that method's parameters. Parameters of methods that were not drawn are left at
their defaults, so the best configuration stays readable.
"""

from __future__ import annotations

from typing import Any

from offline.ranking.config import METHODS

#: methods searched by default: the ablation's arms minus the slow GAN (kept for the ablation)
SEARCH_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m != "gan")
LR_RANGE = (3e-4, 3e-2)
HIDDEN_CHOICES = (32, 64, 128)
LAYERS_RANGE = (1, 3)
DROPOUT_RANGE = (0.0, 0.3)
WEIGHT_DECAY_RANGE = (1e-6, 1e-3)


def in_space(params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` that lies inside the space (what a trial may be seeded with)."""
    ok = {
        "lr": lambda v: LR_RANGE[0] <= v <= LR_RANGE[1],
        "hidden": lambda v: v in HIDDEN_CHOICES,
        "layers": lambda v: LAYERS_RANGE[0] <= v <= LAYERS_RANGE[1],
        "dropout": lambda v: DROPOUT_RANGE[0] <= v <= DROPOUT_RANGE[1],
        "weight_decay": lambda v: WEIGHT_DECAY_RANGE[0] <= v <= WEIGHT_DECAY_RANGE[1],
    }
    return {k: v for k, v in params.items() if k not in ok or ok[k](v)}


def suggest_ranker(
    trial, method: str | None = None, methods: tuple[str, ...] = SEARCH_METHODS
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "lr": trial.suggest_float("lr", *LR_RANGE, log=True),
        "hidden": trial.suggest_categorical("hidden", list(HIDDEN_CHOICES)),
        "layers": trial.suggest_int("layers", *LAYERS_RANGE),
        "dropout": trial.suggest_float("dropout", *DROPOUT_RANGE),
        "weight_decay": trial.suggest_float("weight_decay", *WEIGHT_DECAY_RANGE, log=True),
    }
    m = method or trial.suggest_categorical("method", list(methods))
    cfg["method"] = m
    if m == "class_balanced":
        cfg["cb_beta"] = trial.suggest_float("cb_beta", 0.9, 0.99999)
    elif m == "focal":
        cfg["focal_gamma"] = trial.suggest_float("focal_gamma", 0.5, 4.0)
        cfg["focal_alpha"] = trial.suggest_float("focal_alpha", 0.1, 0.9)
    elif m == "logit_adjust":
        cfg["la_tau"] = trial.suggest_float("la_tau", 0.25, 2.0)
    elif m == "undersample":
        cfg["undersample_rate"] = trial.suggest_float("undersample_rate", 0.02, 0.5, log=True)
    elif m in ("smote", "adasyn", "random_under", "random_over", "gan"):
        cfg["resample_ratio"] = trial.suggest_float("resample_ratio", 0.05, 0.5, log=True)
        if m in ("smote", "adasyn"):
            cfg["smote_k"] = trial.suggest_int("smote_k", 3, 10)
    return cfg
