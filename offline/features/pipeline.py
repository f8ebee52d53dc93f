"""The whole batch path in one call: events -> parquet sources -> feast apply -> materialise.

Used by ``fulcrum features apply`` and by the tests (on a copy of the repo). Every step is timed
and counted; ``on_step`` is told when a step starts (the command shows it as progress).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.forgotten import forgotten_mask, read_ledger
from fulcrum.core.user_state import configured_caps
from offline.features import batch
from offline.features.repo import apply_repo, materialize, materialize_latest

StepFn = Callable[[str], None]
#: "feast": FeatureStore.materialize(_incremental); "latest": newest row per entity written directly
MATERIALIZE_MODES = ("feast", "latest")


@dataclass
class FeatureBuildSummary:
    store: str
    repo: str
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # parquet rows per view
    entities: dict[str, int] = field(default_factory=dict)  # distinct users / items
    applied: dict[str, int] = field(default_factory=dict)
    online_rows: dict[str, int] = field(default_factory=dict)  # "latest" mode only
    #: events left out because their user was forgotten (the repo's ledger, `fulcrum forget`)
    forgotten_events: int = 0


def _timed(summary: FeatureBuildSummary, name: str, on_step: StepFn | None):
    class _T:
        def __enter__(self):
            if on_step:
                on_step(name)
            self.t = time.perf_counter()

        def __exit__(self, *exc):
            summary.seconds[name] = round(time.perf_counter() - self.t, 3)

    return _T()


def load_bundle_embeddings(bundle: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(item ids, texts, embeddings) from a bundle's items.parquet + item_embeddings.npy."""
    from fulcrum.core import bundle_format as B

    items = pd.read_parquet(bundle / B.ITEMS, columns=[S.ITEM_ID, S.ITEM_TEXT])
    emb = np.load(bundle / B.ITEM_EMBEDDINGS)
    return items[S.ITEM_ID].astype(str).tolist(), items[S.ITEM_TEXT].fillna("").astype(str).tolist(), emb


def build_features(
    events: pd.DataFrame,
    repo: Path,
    *,
    items: pd.DataFrame | None = None,
    store: str = "sqlite",
    redis_url: str | None = None,
    bundle: Path | None = None,
    full_materialize: bool = False,
    materialize_mode: str = "feast",
    on_step: StepFn | None = None,
    user_progress: Callable[[int], None] | None = None,
) -> FeatureBuildSummary:
    from fulcrum.core.feature_store import open_store

    configured_caps()  # FULCRUM_USER_SET_MAX: a bad value stops here, naming the variable
    repo = Path(repo).resolve()
    data_dir = repo / "data"
    summary = FeatureBuildSummary(store=store, repo=str(repo))
    # users erased with `fulcrum forget --feature-repo` stay out even if the data still has them
    ledger = read_ledger(data_dir)
    if ledger and len(events):
        gone = np.asarray(forgotten_mask(events[S.USER_ID].astype(str), ledger), dtype=bool)
        summary.forgotten_events = int(gone.sum())
        events = events[~gone]
    with _timed(summary, "user_behaviour", on_step):
        users = batch.user_snapshots(events, progress=user_progress)
    with _timed(summary, "item_stats", on_step):
        item_rows = batch.item_snapshots(events, items)
    with _timed(summary, "embeddings", on_step):
        # embeddings are model outputs, not history: stamped at the first event so every label sees them
        at = (
            pd.to_datetime(events[S.TIMESTAMP], utc=True).min()
            if len(events)
            else pd.Timestamp("1970-01-02", tz="UTC")
        )
        ids, texts, emb = load_bundle_embeddings(bundle) if bundle is not None else ([], [], None)
        item_emb = batch.item_embedding_rows(ids, texts, emb, at)
        user_emb = batch.user_embeddings_empty()
    with _timed(summary, "write_parquet", on_step):
        for view, frame in (
            (fn.USER_BEHAVIOUR_VIEW, users),
            (fn.ITEM_STATS_VIEW, item_rows),
            (fn.USER_EMBEDDING_VIEW, user_emb),
            (fn.ITEM_EMBEDDING_VIEW, item_emb),
        ):
            batch.write_parquet(frame, view, data_dir)
            summary.rows[view] = len(frame)
    summary.entities = {
        "users": int(users[fn.USER_KEY].nunique()) if len(users) else 0,
        "items": int(item_rows[fn.ITEM_KEY].nunique()) if len(item_rows) else 0,
    }
    with _timed(summary, "feast_apply", on_step):
        fs = open_store(repo, store, redis_url)
        summary.applied = apply_repo(fs, repo)
    if materialize_mode not in MATERIALIZE_MODES:
        allowed = ", ".join(MATERIALIZE_MODES)
        raise ValueError(f"materialize_mode: {materialize_mode!r} is not one of {allowed}")
    with _timed(summary, "materialize", on_step):
        if materialize_mode == "latest":
            summary.online_rows = materialize_latest(fs, repo)
        else:
            materialize(fs, full=full_materialize)
    return summary
