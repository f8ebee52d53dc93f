"""The ranking head's configuration: one frozen, validated object.

Errors name the field and the allowed values. ``RankerConfig.from_dict`` rejects unknown keys so a
typo in a YAML file fails loudly instead of being ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fulcrum.core.errors import ConfigError  # the one ConfigError (raised here, imported from here)

#: the imbalance methods of the ablation; "ce" is the control
METHODS: tuple[str, ...] = (
    "ce",  # plain binary cross-entropy
    "class_balanced",  # weights from the effective number of samples (Cui et al. 2019)
    "focal",  # focal loss (Lin et al. 2017)
    "logit_adjust",  # logit-adjusted loss (Menon et al. 2021)
    "undersample",  # negative undersampling + exact probability correction
    "smote",  # imbalanced-learn SMOTE on the head's input vectors
    "adasyn",  # imbalanced-learn ADASYN
    "random_under",  # imbalanced-learn RandomUnderSampler
    "random_over",  # imbalanced-learn RandomOverSampler
    "gan",  # a small GAN oversampler of minority input vectors
)
RESAMPLING_METHODS: tuple[str, ...] = ("smote", "adasyn", "random_under", "random_over", "gan")
CALIBRATIONS: tuple[str, ...] = ("none", "platt", "isotonic")


@dataclass(frozen=True)
class RankerConfig:
    method: str = "ce"
    calibration: str = "isotonic"
    # network and optimiser
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-5
    epochs: int = 6
    batch_size: int = 1024
    seed: int = 0
    threads: int = (
        1  # torch intra-op threads while fitting; >1 only pays for big hidden sizes on an idle machine
    )
    # labels
    neg_per_pos: int = 3  # catalogue negatives per purchased line (purchase head)
    cancel_window_days: float = 30.0  # a CANCEL within this many days after the PURCHASE
    purchase_window_days: float = 1.0  # purchase-given-interaction: a PURCHASE this soon after
    val_days: float = 14.0  # validation slice = the last days of train
    max_train_rows: int = 400_000  # cap on purchase-head rows (sampled), keeps CPU time bounded
    # method parameters
    cb_beta: float = 0.999  # class-balanced: effective-number beta in [0, 1)
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25  # weight of the positive class; <0 disables
    la_tau: float = 1.0  # logit adjustment temperature
    undersample_rate: float = 0.1  # keep this fraction of negatives (cancellation head)
    resample_ratio: float = 0.2  # minority/majority ratio after resampling
    smote_k: int = 5
    gan_epochs: int = 200
    gan_noise: int = 16

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> ConfigError:
            return ConfigError(f"ranker config field '{name}' = {getattr(self, name)!r}: expected {allowed}")

        if self.method not in METHODS:
            raise bad("method", "one of " + ", ".join(METHODS))
        if self.calibration not in CALIBRATIONS:
            raise bad("calibration", "one of " + ", ".join(CALIBRATIONS))
        for name in (
            "hidden",
            "layers",
            "epochs",
            "batch_size",
            "neg_per_pos",
            "max_train_rows",
            "smote_k",
            "gan_epochs",
            "gan_noise",
            "threads",
        ):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "an integer >= 1")
        for name in ("lr", "cancel_window_days", "purchase_window_days", "val_days"):
            if not getattr(self, name) > 0:
                raise bad(name, "a number > 0")
        if not 0 <= self.dropout < 1:
            raise bad("dropout", "a number in [0, 1)")
        if not self.weight_decay >= 0:
            raise bad("weight_decay", "a number >= 0")
        if not 0 <= self.cb_beta < 1:
            raise bad("cb_beta", "a number in [0, 1)")
        if not self.focal_gamma >= 0:
            raise bad("focal_gamma", "a number >= 0")
        if not self.focal_alpha < 1:
            raise bad("focal_alpha", "a number < 1 (negative disables alpha weighting)")
        if not self.la_tau >= 0:
            raise bad("la_tau", "a number >= 0")
        if not 0 < self.undersample_rate <= 1:
            raise bad("undersample_rate", "a number in (0, 1]")
        if not 0 < self.resample_ratio <= 1:
            raise bad("resample_ratio", "a number in (0, 1]")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RankerConfig:
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown ranker config field(s) {unknown}; allowed: {sorted(known)}")
        for f in dataclasses.fields(cls):  # YAML gives 1 for 1.0 and vice versa: coerce plainly
            if f.name in data and f.type == "float" and isinstance(data[f.name], int):
                data[f.name] = float(data[f.name])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RankerConfig:
        return dataclasses.replace(self, **changes)
