"""A bundle run the way serving runs it, for offline evaluation.

Profiles are folded from the train events (``fulcrum.core.user_state``) as of the train cut-off;
the user encoder (ONNX) embeds each profile's recent items; the catalogue's embeddings give the
retrieval scores over the candidate pool (train items, minus the user's exclusions); the top
``n_candidates`` are scored by ``ranker.onnx`` on ``rank_features``. Users without history get
the catalogue's popular-now order (cold start: trend prior, then popularity). Candidates are
computed once per user and cached, so re-rank sweeps only re-order them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
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


def user_cuts(prepared) -> tuple[dict[str, float], float]:
    """({user: the moment their evaluation starts}, the default for everyone else), epoch s.

    A time split: the cut-off for everyone. Leave-last-out: each user's first test event (their
    held-out basket); users without one are "now" = one second after the last train event."""
    from offline.data.split import LEAVE_LAST_OUT
    from offline.ranking.labels import epoch_seconds

    if prepared.split.kind != LEAVE_LAST_OUT:
        return {}, prepared.split.cutoff.timestamp()
    train, test = prepared.train_events(), prepared.test_events()
    default = float(epoch_seconds(train[S.TIMESTAMP]).max()) + 1.0 if len(train) else 0.0
    t = pd.Series(epoch_seconds(test[S.TIMESTAMP]), index=test[S.USER_ID].astype(str).to_numpy())
    return {str(u): float(v) for u, v in t.groupby(level=0).min().items()}, default


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
        self.cat = self.bundle.catalogue
        self.cuts, self.cutoff = user_cuts(prepared)
        self.profiles = profiles_at(prepared.train_events(), self.cutoff if not self.cuts else np.inf)
        self.manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
        train_items = pool if pool is not None else set(prepared.train_purchases()[S.ITEM_ID].astype(str))
        self.pool_mask = np.array([i in train_items for i in self.cat.item_ids], dtype=bool)
        self.n_candidates = n_candidates
        self.max_len = self.bundle.user_encoder.history_length
        self._cache: dict[str, Candidates | None] = {}

    def now(self, user: str) -> float:
        """The moment ``user`` is evaluated at (see ``user_cuts``)."""
        return self.cuts.get(user, self.cutoff)

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
            cosine, s = self.cat.retrieval_scores(v, self.profiles[u].bought)
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
