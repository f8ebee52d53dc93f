"""The live catalogue: the bundle's items and embeddings plus items upserted while serving.

A ``Catalogue`` is an immutable snapshot (row i of every array is one item); an upsert builds a
new snapshot and ``LiveCatalogue`` swaps one reference, so a request that took a snapshot sees
one consistent catalogue from retrieval to reply. Growth is amortised (spare capacity, no copy of
the matrix per new item): fulcrum/core/bundle/catalogue_growth.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from fulcrum.core.blocked_rows import Blocked, sorted_unique
from fulcrum.core.bundle.ann import AnnParts, ann_grown
from fulcrum.core.bundle.ann_retrieval import pool_candidates, pool_dense
from fulcrum.core.bundle.catalogue_growth import grow
from fulcrum.core.bundle.lexical import grown
from fulcrum.core.bundle.popular_orders import carry_orders
from fulcrum.core.bundle.retrieval import top_candidates
from fulcrum.core.bundle.row_index import rows_of_ids
from fulcrum.core.bundle.text_column import TextColumn
from fulcrum.core.hybrid import (
    HybridPrior,
    HybridWeights,
    NeighbourTable,
    hybrid_prior,
    hybrid_with_prior,
    repeat_indicator,
)
from fulcrum.core.rank_features import ItemStats
from fulcrum.core.repeat_term import own_rows, profile_strengths, repeat_vector
from fulcrum.core.rerank.tail_boost import tail_mask
from fulcrum.core.search.engine import dense_scores
from fulcrum.core.search.lexical_index import LexicalIndex
from fulcrum.core.search.sparse_scores import SparseScores
from fulcrum.core.search.synonyms import WordNeighbours


def _epoch_seconds(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        ts = pd.to_datetime(col, utc=True)
        out = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
        return out
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)


def _num(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), default, dtype=np.float64)
    return pd.to_numeric(df[name], errors="coerce").fillna(default).to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Catalogue:
    item_ids: np.ndarray  # object [N]
    index: Mapping[str, int]
    texts: np.ndarray | TextColumn  # object [N]; TextColumn after text changes (text_column.py)
    embeddings: np.ndarray  # float32 [N, D], L2-normalised
    price: np.ndarray  # float64 [N] (NaN unknown)
    purchases: np.ndarray
    impressions: np.ndarray
    cancel_rate: np.ndarray
    first_seen: np.ndarray  # epoch seconds, NaN unknown
    popularity_rank: np.ndarray  # 0 = most popular
    upserted: np.ndarray  # bool: added while serving
    #: the bundle's hybrid retrieval parts (fulcrum/core/hybrid.py); rows past the bundle's
    #: items (upserted while serving) have no neighbours and the trend of an item without recent
    #: buyers (``trend_pad``: they earn no trend boost until a retrain counts their sales)
    neighbours: NeighbourTable | None = None
    trend: np.ndarray | None = None
    hybrid: HybridWeights = HybridWeights()
    trend_pad: float = 0.0
    #: the item encoder's own (text-only) vectors, the space queries live in; None = use
    #: ``embeddings`` (bundles without ``item_text_embeddings.npy``)
    text_embeddings: np.ndarray | None = None
    #: Search's BM25 index over ``texts`` (fulcrum/core/bundle/lexical.py); None: no lexical match
    lexical: LexicalIndex | None = None
    #: Search's pooled text vectors [N, H] (fulcrum/core/bundle/search_space.py); None: bundle has none
    search_vectors: np.ndarray | None = None
    #: catalogue words in the search space: stand-ins for query words the catalogue lacks
    word_neighbours: WordNeighbours | None = None
    #: Search's query-side adapter learnt from a search log (fulcrum/core/search/adapter.py)
    query_adapter: np.ndarray | None = None
    #: the ANN indexes and what the pool re-score needs (fulcrum/core/bundle/ann.py); None: exact
    ann: AnnParts | None = None

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def warm(self) -> Catalogue:
        """Compute the per-snapshot orders and vectors now (in the loader's or the upsert's worker
        thread, where NumPy's sorts release the GIL), not in the first request on the loop; self."""
        for name in ("is_tail", "popular_now_pct", "_trend_term"):  # popularity_pct: at rows (item_stats)
            getattr(self, name)
        return self

    # computed once per snapshot (ranks only change when an upsert builds a new snapshot)
    @cached_property
    def popularity_pct(self) -> np.ndarray:
        n = max(len(self), 1)
        return 1.0 - self.popularity_rank / n

    @cached_property
    def popular_order(self) -> np.ndarray:
        return np.argsort(self.popularity_rank, kind="stable")

    @cached_property
    def is_tail(self) -> np.ndarray:
        """Items outside the 20 % most purchased (``fulcrum.core.rerank.tail_boost.tail_mask``);
        upserted items are tail."""
        return tail_mask(self.popularity_rank, self.purchases) | self.upserted

    @property
    def search_embeddings(self) -> np.ndarray:
        """What Search compares a query vector with: text-only item vectors when the bundle has
        them (the catalogue's ``embeddings`` carry learned id residuals that move warm items away
        from the text space), else ``embeddings``; the bundle's pooled search space when it has one
        (``search_vectors``, fulcrum/core/search/space.py) before both."""
        if self.search_vectors is not None:
            return self.search_vectors
        return self.embeddings if self.text_embeddings is None else self.text_embeddings

    @cached_property
    def _low_trials(self) -> dict[int, np.ndarray]:
        return {}

    def low_trial_rows(self, threshold: int) -> np.ndarray:
        """Rows with fewer than ``threshold`` trials (max(impressions, purchases)) when this
        snapshot (or the one it grew from) first asked: a superset of today's, as counts only
        grow (online/inference/exploration_pool.py)."""
        rows = self._low_trials.get(threshold)
        if rows is None:
            rows = np.flatnonzero(np.maximum(self.impressions, self.purchases) < threshold)
            self._low_trials[threshold] = rows
        return rows

    @cached_property
    def popular_now_order(self) -> np.ndarray:
        """Rows for users the model knows nothing about (cold start, degraded fallback): by the
        bundle's trend prior -- what sells now -- ties by all-time popularity; without a trend
        prior, all-time popularity. (On Online Retail's validation slice, cold-user Recall@10:
        0.094 with the 14-day trend vs 0.070 by all-time distinct buyers.)"""
        trend = self.trend_all
        if trend is None:
            return self.popular_order
        return np.lexsort((self.popularity_rank, -trend))

    @cached_property
    def popular_now_pct(self) -> np.ndarray:
        """1 for the first row of ``popular_now_order`` down to 1/N for the last."""
        n = max(len(self), 1)
        pct = np.empty(len(self), dtype=np.float64)
        pct[self.popular_now_order] = 1.0 - np.arange(len(self)) / n
        return pct

    @cached_property
    def trend_all(self) -> np.ndarray | None:
        """The trend prior padded with ``trend_pad`` to every row (None without one)."""
        if self.trend is None:
            return None
        t = np.full(len(self), self.trend_pad, dtype=np.float64)
        m = min(len(self.trend), len(self))
        t[:m] = self.trend[:m]
        return t

    # ---- retrieval scoring (per request: nothing here loops over the catalogue in Python) --------

    def own_of(self, profile) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) of the repeat term at a ``UserProfile``'s own items under this bundle's
        repeat shape (fulcrum/core/repeat_term.py; the indicator gives 1 at its sources)."""
        return own_rows(profile_strengths(profile, self.hybrid.repeat_shape), self.index)

    def user_prior(self, bought_rows: np.ndarray,
                   own: tuple[np.ndarray, np.ndarray] | None = None) -> HybridPrior:
        """The hybrid score's terms that do not depend on the user vector, for a user whose
        neighbour sources are ``bought_rows``: the neighbour and repeat terms (O(catalogue):
        computed once per user row and snapshot by the server, online/server/profile_rows.py)
        and this snapshot's trend term. ``own``: the repeat term at the user's own rows
        (``own_of``); None: the indicator of ``bought_rows`` (an indicator bundle only)."""
        neighbour = repeat = None
        if self.neighbours is not None and self.hybrid.neighbour > 0:
            neighbour = self.neighbours.scores(bought_rows, len(self))
        if self.hybrid.repeat > 0:  # the user's own source items (fulcrum/core/repeat_term.py)
            repeat = self._repeat(bought_rows, own)
        p = hybrid_prior(neighbour, None, self.hybrid, repeat)
        return HybridPrior(p.neighbour, self._trend_term, p.repeat)

    def _repeat(self, bought_rows: np.ndarray, own: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        if own is not None:
            return repeat_vector(*own, len(self))
        if self.hybrid.repeat_shape.graded:
            raise ValueError("a graded repeat term needs the user's own rows and values (Catalogue.own_of)")
        return repeat_indicator(bought_rows, len(self))

    @cached_property
    def _trend_term(self) -> np.ndarray | None:
        """trend_weight x the trend prior over every row, once per snapshot."""
        return hybrid_prior(None, self.trend_all, self.hybrid).trend

    def retrieval_scores(
        self,
        user_vec: np.ndarray,
        bought: Iterable[str] = (),
        bought_rows: np.ndarray | None = None,
        prior: HybridPrior | None = None,
        trend: np.ndarray | None = None,
        own: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores, retrieval scores) of every row for one user vector: the retrieval score
        is the bundle's hybrid score (cosine + co-purchase neighbours of the bought items + trend)
        when the manifest gives it weights, else the cosine itself. ``bought_rows`` (``rows_of``
        of the bought ids, when the caller has it already) saves mapping ``bought`` again;
        ``prior`` (``user_prior(bought_rows)`` of this snapshot, when the caller kept it) saves
        the neighbour and trend terms. ``trend`` (one value per row) replaces the bundle's trend
        prior: an offline evaluation that scores each user at their own moment (leave-last-out)
        passes the prior as of that moment; serving never passes it (nor both). ``own``: the
        repeat term's rows and values (``own_of`` of the profile; needed by a graded bundle
        when no ``prior`` is given)."""
        cosine = self.embeddings @ user_vec
        if not self.hybrid.active:
            return cosine, cosine
        if prior is not None and trend is not None:
            raise ValueError("retrieval_scores takes a prior or a trend override, not both")
        if trend is not None and len(trend) != len(self):
            raise ValueError(f"trend has {len(trend)} values for {len(self)} catalogue rows")
        if prior is None:
            prior = self.user_prior(self.rows_of(bought) if bought_rows is None else bought_rows, own)
            if trend is not None:  # every user term kept, the trend term replaced
                prior = dataclasses.replace(prior, trend=hybrid_prior(None, trend, self.hybrid).trend)
        return cosine, hybrid_with_prior(cosine, prior, self.hybrid)

    @property
    def ann_active(self) -> bool:
        """Retrieval goes through the ANN index: the bundle has one and the live catalogue has at
        least ``ann_min_items`` rows (below it exact search is as fast and exact)."""
        return self.ann is not None and len(self) >= self.ann.settings.min_items

    def retrieve(
        self,
        user_vec: np.ndarray,
        n: int,
        blocked: Blocked | None,
        bought_rows: np.ndarray,
        prior: HybridPrior | None = None,
        own: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the ``n`` best non-blocked rows by retrieval score, best first; their cosine; their
        retrieval score): through the ANN pool when ``ann_active`` (online/inference/
        ann_retrieval.py: the same scores, candidates from the pool), else over every row.
        ``own``: the repeat term's rows and values (``own_of``; see ``retrieval_scores``)."""
        if self.ann_active:
            got = pool_candidates(self, user_vec, n, blocked, bought_rows, own)
            if got is not None:
                return got
        cosine, scores = self.retrieval_scores(
            user_vec, bought_rows=bought_rows, prior=prior, own=None if prior is not None else own)
        cand = top_candidates(scores, n, blocked)
        return cand, cosine[cand], scores[cand]

    def search_dense(
        self, query_vec: np.ndarray, depth: int, blocked: Blocked | None
    ) -> tuple[np.ndarray | SparseScores, np.ndarray | None]:
        """([N] Search's dense scores, the rows holding the best of them or None for all rows):
        exact cosines over ``search_embeddings``, or, when ``ann_active``, exact on the query's
        ANN pool and a floor elsewhere (``SparseScores``), with the pool's rows
        (ann_retrieval.py)."""
        if self.ann_active:
            got = pool_dense(self, query_vec, depth, blocked)
            if got is not None:
                return got
        return dense_scores(self.search_embeddings, query_vec), None

    def rows_of(self, item_ids: Iterable[str]) -> np.ndarray:
        """Rows of the known ids, sorted and unique (unknown ids dropped): one dict lookup per id
        and an integer sort -- a heavy buyer's thousands of bought ids are mapped once per request
        and the order of a set's iteration never matters."""
        ids = item_ids if isinstance(item_ids, list | tuple | set | frozenset) else list(item_ids)
        # map() with dict.get(id, -1) runs in C; unknown ids come back as -1 (row_index.py)
        rows = rows_of_ids(self.index, ids)
        return sorted_unique(rows[rows >= 0])  # np.unique, without NumPy 2's slow small-array path

    def mask_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """bool [N], True at ``rows``."""
        mask = np.zeros(len(self), dtype=bool)
        mask[rows] = True
        return mask

    def indices(self, item_ids: Sequence[str]) -> np.ndarray:
        """Row indices of the known ids (unknown ids are dropped), in the given order."""
        return np.array([self.index[i] for i in item_ids if i in self.index], dtype=np.int64)

    def item_stats(self, idx: np.ndarray) -> ItemStats:
        return ItemStats(
            item_ids=tuple(self.item_ids[idx]),
            purchases=self.purchases[idx],
            cancel_rate=self.cancel_rate[idx],
            price=np.nan_to_num(self.price[idx], nan=0.0),
            first_seen=self.first_seen[idx],
            # popularity_pct at these rows only: the same floats, no [N] pass per snapshot
            popularity_pct=1.0 - self.popularity_rank[idx] / max(len(self), 1),
        )

    @classmethod
    def from_frame(
        cls,
        items: pd.DataFrame,
        embeddings: np.ndarray,
        neighbours: NeighbourTable | None = None,
        trend: np.ndarray | None = None,
        hybrid: HybridWeights | None = None,
        trend_pad: float = 0.0,
        text_embeddings: np.ndarray | None = None,
    ) -> Catalogue:
        if len(items) != len(embeddings):
            raise ValueError(f"items has {len(items)} rows but embeddings {len(embeddings)}")
        if text_embeddings is not None and np.shape(text_embeddings) != np.shape(embeddings):
            raise ValueError(
                f"text embeddings have shape {np.shape(text_embeddings)}, embeddings {np.shape(embeddings)}"
            )
        ids = items["item_id"].astype(str).to_numpy(dtype=object)
        n = len(ids)
        rank = _num(items, "popularity_rank", np.nan)
        if np.isnan(rank).all():
            rank = np.argsort(
                np.argsort(-_num(items, "purchases", 0.0), kind="stable"), kind="stable"
            ).astype(float)
        rank = np.where(np.isnan(rank), n, rank)
        texts = (
            items["text"].fillna("").astype(str).to_numpy(dtype=object)
            if "text" in items
            else np.full(n, "", object)
        )
        return cls(
            item_ids=ids,
            index={item: i for i, item in enumerate(ids)},
            texts=texts,
            embeddings=np.ascontiguousarray(embeddings, dtype=np.float32),
            price=_num(items, "price", np.nan),
            purchases=_num(items, "purchases", 0.0),
            impressions=_num(items, "impressions", 0.0),
            cancel_rate=_num(items, "cancel_rate", 0.0),
            first_seen=_epoch_seconds(items["first_seen"]) if "first_seen" in items else np.full(n, np.nan),
            popularity_rank=rank.astype(np.float64),
            upserted=np.zeros(n, dtype=bool),
            neighbours=neighbours,
            trend=None if trend is None else np.asarray(trend, dtype=np.float64),
            hybrid=hybrid or HybridWeights(),
            trend_pad=float(trend_pad),
            text_embeddings=None
            if text_embeddings is None
            else np.ascontiguousarray(text_embeddings, dtype=np.float32),
        )

    def with_items(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str],
        embeddings: np.ndarray,
        prices: Sequence[float],
        now: float,
        search_vectors: np.ndarray | None = None,
    ) -> Catalogue:
        """A new snapshot with these items added, or their text/price (and, for items added while
        serving, their vectors) replaced (fulcrum/core/bundle/catalogue_growth.py; a bundle item
        keeps its learned vectors); ``search_vectors``: their pooled search vectors, when the
        catalogue has a search space."""
        new, _, refused = grow(
            self, None, item_ids, texts, embeddings, prices, now, search_vectors=search_vectors
        )
        return with_search_parts(self, new, item_ids, texts, refused)


def with_search_parts(
    old: Catalogue,
    new: Catalogue,
    item_ids: Sequence[str],
    texts: Sequence[str],
    refused: Sequence[str],
) -> Catalogue:
    """``new`` (grown from ``old``) with Search's lexical index and ANN parts updated for the
    upserted items that the catalogue took (``refused`` ones are not in it), and the orders the
    old snapshot had computed carried over (``carry_orders``)."""
    if new is old:
        return old
    if refused:
        skip = set(refused)
        keep = [j for j, item in enumerate(item_ids) if item not in skip]
        item_ids = [item_ids[j] for j in keep]
        texts = [texts[j] for j in keep]
    if not item_ids:
        return new
    out = ann_grown(old, grown(old, new, item_ids, texts), [new.index[i] for i in item_ids])
    carry_orders(old, out)
    # new rows have no trials: the grown snapshot's new-item lists are the old ones plus them
    added = np.arange(len(old), len(out), dtype=np.int64)
    out._low_trials.update({t: np.concatenate([r, added]) for t, r in old._low_trials.items()})
    return out
