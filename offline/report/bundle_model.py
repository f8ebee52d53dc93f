"""A bundle run the way serving runs it, for offline evaluation.

Profiles are folded from the train events (``fulcrum.core.user_state``) as of the train cut-off;
the user encoder (ONNX) embeds each profile's recent items; the catalogue's embeddings give the
retrieval scores over the candidate pool (train items, minus the user's exclusions; the hybrid's
neighbour term from the profile's sources under the bundle's ``hybrid.neighbour_source``, as
serving: fulcrum/core/neighbour_source.py; the repeat term graded by fulcrum/core/repeat_term.py
from the same profile); the top
``n_candidates`` are scored by ``ranker.onnx`` on ``rank_features``. Users without history get
the catalogue's popular-now order (cold start: trend prior, then popularity). Candidates are
computed once per user and cached, so re-rank sweeps only re-order them.

Each user is scored at their evaluation moment (``offline.eval.slices.user_cuts``): on a time split
the cut-off, on leave-last-out the start of their held-out basket. There the hybrid's trend prior
is the one as of that moment (``user_trend``: ``offline.model.trend_prior.TrendAt``, the per-cut
prior the +trend baselines and the training's own validation and self-check use), not the
bundle's prior frozen at its training cut, which for most users would be days or months off;
a time split keeps the bundle's own prior, which is the prior as of the cut-off.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from fulcrum.core.neighbour_source import profile_sources
from fulcrum.core.rank_features import rank_features
from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events, user_profile

log = logging.getLogger(__name__)
_DAY = 86_400.0


@dataclass
class Candidates:
    idx: np.ndarray  # catalogue rows, retrieval order
    retrieval: np.ndarray  # retrieval scores (the bundle's hybrid score, or the cosine)
    purchase: np.ndarray  # ranker purchase_prob
    cancel: np.ndarray  # ranker cancel_prob


def history(profile, catalogue, now: float, max_length: int):
    """The user encoder's input (mirrors online.server.profiles.history_for); None without history."""
    from fulcrum.core.bundle.encoders import History

    rows, types, ages = [], [], []
    for item, kind, t in zip(profile.recent_items, profile.recent_types, profile.recent_times, strict=True):
        row = catalogue.index.get(item)
        if row is None:
            continue
        rows.append(row)
        types.append(S.EVENT_TYPE_CODE.get(kind, S.EVENT_TYPE_CODE[S.EventType.VIEW.value]))
        ages.append(max(now - float(t), 0.0) / _DAY)
    if not rows:
        return None
    rows, types, ages = rows[-max_length:], types[-max_length:], ages[-max_length:]
    return History(
        catalogue.embeddings[np.array(rows)], np.array(types, np.int64), np.array(ages, np.float32)
    )


def user_trend(events: pd.DataFrame, index: dict[str, int], n_items: int, days: float):
    """The trend prior as of any user's cut (``.vector(at)``, one value per catalogue row) from
    the purchases in ``events`` (the train side), cuts rounded down to the UTC day: the same
    ``TrendAt`` the +trend baselines (offline/baselines/trend.py) and the training's per-user
    validation build, over the catalogue's rows. Purchases of items not in ``index`` are left out,
    as the bundle's own prior leaves them out."""
    from offline.model.trend_prior import TrendAt
    from offline.ranking.labels import user_item_times

    purchases = events[S.EVENT_TYPE] == S.EventType.PURCHASE.value
    return TrendAt(*user_item_times(events, index, purchases), days, n_items, by_day=True)


def trend_days(manifest: dict) -> float:
    """The trend window the bundle's hybrid was trained with (manifest ``hybrid.trend_days``)."""
    from fulcrum.core import hybrid as hy

    block = manifest.get(hy.MANIFEST_KEY)
    value = block.get("trend_days") if isinstance(block, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"manifest {hy.MANIFEST_KEY}.trend_days = {value!r}: a bundle with a trend "
                         "weight must record its trend window (re-export the run)")
    return float(value)


def profiles_at(events, cutoff: float) -> dict:
    """UserProfile per user from behaviour events strictly before ``cutoff`` (epoch s): pass the
    train events (leave-last-out: each user's train events all precede their held-out basket)."""
    from offline.ranking.labels import epoch_seconds

    e = events[events[S.USER_ID].notna() & events[S.EVENT_TYPE].isin(S.BEHAVIOUR_TYPES)]
    ts = epoch_seconds(e[S.TIMESTAMP])
    keep = ts < cutoff
    users = e[S.USER_ID].astype(str).to_numpy()[keep]
    items = e[S.ITEM_ID].astype(str).to_numpy()[keep]
    types = e[S.EVENT_TYPE].astype(str).to_numpy()[keep]
    ts = ts[keep]
    order = np.lexsort((ts, users))
    out = {}
    bounds = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        sl = order[a:b]
        u = users[sl[0]]
        st = fold_user_events(
            UserState(),
            [BehaviourEvent(i, t, s) for i, t, s in zip(items[sl], types[sl], ts[sl], strict=True)],
        )
        out[u] = user_profile(u, st)
    return out


class BundleModel:
    def __init__(self, bundle_dir: Path, prepared, n_candidates: int = 100,
                 pool: frozenset[str] | None = None) -> None:
        """``pool``: the protocol's candidate items (default: the items of train purchases)."""
        from fulcrum.core.bundle.loader import load_bundle

        self.bundle = load_bundle(Path(bundle_dir), execution_provider="cpu", intra_op_threads=1)
        from offline.eval.slices import user_cuts

        self.cat = self.bundle.catalogue
        self.cuts = user_cuts(prepared)
        train = prepared.train_events()
        self.profiles = profiles_at(train, np.inf if self.cuts.per_user else self.cuts.default)
        self.manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
        self._train = train
        self._trend = None  # built on first use (a per-user split with a trend weight only)
        train_items = pool if pool is not None else set(prepared.train_purchases()[S.ITEM_ID].astype(str))
        self.pool_mask = np.array([i in train_items for i in self.cat.item_ids], dtype=bool)
        self.n_candidates = n_candidates
        self.max_len = self.bundle.user_encoder.history_length
        self._cache: dict[str, Candidates | None] = {}

    def now(self, user: str) -> float:
        """The moment ``user`` is evaluated at (``offline.eval.slices.user_cuts``)."""
        return self.cuts.of(user)

    def trend_of(self, user: str) -> np.ndarray | None:
        """The trend prior ``user`` is scored with: as of their own cut on a per-user split, else
        None (the bundle's prior)."""
        if not self.cuts.per_user or self.cat.hybrid.trend <= 0:
            return None  # a time split: the bundle's own prior is the prior as of the cut-off
        if self._trend is None:
            days = trend_days(self.manifest)
            self._trend = user_trend(self._train, dict(self.cat.index), len(self.cat), days)
        return self._trend.vector(self.now(user))

    def ranker_heads(self) -> dict[str, str]:
        """What the bundle's ranking heads are: "trained", or "off: <why>" (manifest stages)."""
        stages = (self.manifest.get("metrics") or {}).get("stages") or {}
        if str(stages.get("ranker", "")).startswith("off"):
            return {"purchase": stages["ranker"], "cancel": stages["ranker"]}
        return {
            "purchase": str(stages.get("ranker_purchase_head", "trained")),
            "cancel": str(stages.get("ranker_cancel_head", "trained")),
        }

    def without_hybrid(self) -> BundleModel:
        """The same bundle ranked by the two towers alone (the report's ablation row of the
        hybrid retrieval score); shares the loaded graphs and profiles, not the candidate cache."""
        import copy
        import dataclasses

        from fulcrum.core.hybrid import HybridWeights

        other = copy.copy(self)
        other.cat = dataclasses.replace(self.cat, hybrid=HybridWeights())
        other._cache = {}
        return other

    def popular(self, exclude: set[str], k: int) -> list[str]:
        out = []
        for j in self.cat.popular_now_order:
            if self.pool_mask[j] and self.cat.item_ids[j] not in exclude:
                out.append(str(self.cat.item_ids[j]))
                if len(out) == k:
                    break
        return out

    def candidates(self, users: list[str], exclude: dict[str, set[str]]) -> None:
        """Fill the cache for ``users`` (batched through the user encoder and the ranker)."""
        todo = [u for u in users if u not in self._cache]
        hist, who = [], []
        for u in todo:
            p = self.profiles.get(u)
            h = history(p, self.cat, self.now(u), self.max_len) if p is not None else None
            if h is None:
                self._cache[u] = None
            else:
                hist.append(h)
                who.append(u)
        if not who:
            return
        vecs = self.bundle.user_encoder(hist)
        feats, cands = [], []
        for u, v in zip(who, vecs, strict=True):
            sources = profile_sources(self.profiles[u], self.cat.hybrid.neighbour_source)
            # the repeat term at the user's own items, graded as the bundle says (as serving)
            own = self.cat.own_of(self.profiles[u]) if self.cat.hybrid.repeat > 0 else None
            cosine, s = self.cat.retrieval_scores(v, sources, trend=self.trend_of(u), own=own)
            s = np.where(self.pool_mask, s, -np.inf)
            for item in exclude.get(u, ()):
                j = self.cat.index.get(item)
                if j is not None:
                    s[j] = -np.inf
            n = min(self.n_candidates, int(np.isfinite(s).sum()))
            top = np.argpartition(-s, n - 1)[:n] if n else np.zeros(0, np.int64)
            top = top[np.argsort(-s[top], kind="stable")]
            cands.append((top, s[top]))
            feats.append(rank_features(self.profiles[u], self.cat.item_stats(top), cosine[top], self.now(u)))
        probs = self.bundle.ranker(feats)
        for u, (top, sc), (pp, cp) in zip(who, cands, probs, strict=True):
            self._cache[u] = Candidates(top, sc, np.asarray(pp, np.float64), np.asarray(cp, np.float64))

    def cached(self, user: str) -> Candidates | None:
        return self._cache.get(user)
