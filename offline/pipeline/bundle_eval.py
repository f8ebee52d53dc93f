"""A bundle as a ``recommend_fn`` for offline.eval: what the bundle's graphs retrieve, scored
through the same harness as the baselines.

Per warm user: the last T behaviour events before the evaluation cut (T = the manifest's history
length) -> item embeddings from the bundle's table, event type codes, ages in days at the cut ->
``user_encoder.onnx`` (ONNX Runtime, the graph serving runs) -> dot product with every item
embedding (the hybrid score when the bundle has one, its parts rebuilt as of the cut: see
``hybrid_parts_at``) -> top k of the candidate pool, the harness's exclusions removed. Users
without history get the bundle's most purchased items (with a hybrid block: what sold in its
trend window before the cut, as serving's popular-now). History items missing from a bundle's catalogue are
skipped (as serving does), so two bundles with different catalogues are compared on the same
events. This measures retrieval, the part of serving that the ranking head and re-ranking rules
then reorder; both bundles are measured the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import bundle_format as bf
from fulcrum.core import neighbour_source as ns
from fulcrum.core import schema as S
from fulcrum.core.manifest import read_manifest
from fulcrum.core.user_state import configured_caps
from offline.eval.vector_topk import vector_top_k
from offline.ranking.labels import user_item_times

_DAY = 86_400.0


class BundleRecommender:
    def __init__(
        self,
        bundle: Path,
        train_events: pd.DataFrame,
        at: pd.Timestamp,
        pool: Sequence[str],
        threads: int = 2,
    ) -> None:
        import onnxruntime as ort

        bundle = Path(bundle)
        manifest = read_manifest(bundle)  # the typed reader (fulcrum/core/manifest.py)
        self.version = manifest.version
        items = pd.read_parquet(bundle / bf.ITEMS)
        self.item_ids = items[S.ITEM_ID].astype(str).to_numpy()
        self.vecs = np.load(bundle / bf.ITEM_EMBEDDINGS).astype(np.float32)
        self.index = {i: j for j, i in enumerate(self.item_ids)}
        self.t_len = manifest.history_length
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(bundle / bf.USER_ENCODER), opts, providers=["CPUExecutionProvider"]
        )
        in_pool = np.zeros(len(self.item_ids), dtype=bool)
        in_pool[[self.index[i] for i in pool if i in self.index]] = True
        self.in_pool = in_pool
        order = (
            np.argsort(-items["purchases"].to_numpy(), kind="stable")
            if "purchases" in items.columns
            else np.arange(len(items))
        )
        parts = hybrid_parts_at(dict(manifest.raw), self.index, train_events, at)
        if parts is not None:  # cold users: what sold before the cut (as serving's popular-now)
            trend = parts[2]
            bought = items["purchases"].to_numpy() if "purchases" in items.columns else np.zeros(len(items))
            order = np.lexsort((-bought, -trend))
        self.popular = [self.item_ids[j] for j in order if in_pool[j]]
        self.user_vecs = self._encode_users(train_events, at)
        self.adjust = _hybrid_adjust(parts, self.index, train_events, at)

    def _encode_users(self, events: pd.DataFrame, at: pd.Timestamp) -> dict[str, np.ndarray]:
        ev = events[events[S.USER_ID].notna() & events[S.EVENT_TYPE].isin(list(S.EVENT_TYPE_CODE))]
        ev = ev[ev[S.ITEM_ID].astype(str).isin(self.index)]
        ts = pd.to_datetime(ev[S.TIMESTAMP], utc=True)
        ev = ev.assign(_t=((at - ts).dt.total_seconds() / _DAY).clip(lower=0.0), _u=ev[S.USER_ID].astype(str))
        ev = ev.sort_values(["_u", S.TIMESTAMP], kind="stable").groupby("_u", sort=True).tail(self.t_len)
        users = ev["_u"].unique().tolist()
        if not users:
            return {}
        item_ix = ev[S.ITEM_ID].astype(str).map(self.index).to_numpy(np.int64)
        codes = ev[S.EVENT_TYPE].map(S.EVENT_TYPE_CODE).to_numpy(np.int64)
        ages = ev["_t"].to_numpy(np.float32)
        _, starts = np.unique(ev["_u"].to_numpy(), return_index=True)
        bounds = np.append(starts, len(ev))
        out: dict[str, np.ndarray] = {}
        batch = 256
        for s in range(0, len(users), batch):
            rows = range(s, min(s + batch, len(users)))
            b, t, d = len(rows), self.t_len, self.vecs.shape[1]
            emb = np.zeros((b, t, d), np.float32)
            typ = np.zeros((b, t), np.int64)
            age = np.zeros((b, t), np.float32)
            mask = np.zeros((b, t), np.float32)
            for r, u in enumerate(rows):
                lo, hi = bounds[u], bounds[u + 1]
                n = hi - lo
                emb[r, t - n :] = self.vecs[item_ix[lo:hi]]
                typ[r, t - n :], age[r, t - n :], mask[r, t - n :] = codes[lo:hi], ages[lo:hi], 1.0
            feeds = {bf.IN_HIST_EMB: emb, bf.IN_HIST_TYPE: typ, bf.IN_HIST_AGE: age, bf.IN_HIST_MASK: mask}
            vec = self.session.run([bf.OUT_USER_EMBEDDING], feeds)[0]
            for r, u in enumerate(rows):
                out[users[u]] = vec[r]
        return out

    def __call__(self, user_ids: list[str], k: int, exclude: dict[str, set[str]]) -> list[list[str]]:
        return vector_top_k(
            user_ids, k, exclude, user_vecs=self.user_vecs, item_vecs=self.vecs, item_ids=self.item_ids,
            index=self.index, allowed=self.in_pool, popular=self.popular, adjust=self.adjust,
        )


def hybrid_parts_at(manifest: dict, index: dict, events: pd.DataFrame, at: pd.Timestamp):
    """The bundle's hybrid parts rebuilt from the purchases strictly before ``at`` (the table from
    the positive interactions under the bundle's ``hybrid.neighbour_source: interactions``, by its
    ``hybrid.neighbour_model``), on the bundle's item rows: (weights, NeighbourTable, trend, trend
    of an item without buyers), or None when the bundle has no active hybrid block.

    A bundle's own hybrid files are computed at its training cut-off. Scored on a slice inside its
    training data (the validation slice that `fulcrum retrain` judges on), those files would have
    seen the slice -- the trend prior would BE the slice's sales -- so every judge rebuilds them
    as of the slice's start, with the bundle's own settings and weights.
    """
    from fulcrum.core import hybrid as hy
    from offline.model.hybrid_fit import hybrid_parts

    block = manifest.get(hy.MANIFEST_KEY)
    weights = hy.weights_from_manifest(manifest)
    if not isinstance(block, dict) or not weights.active:
        return None
    table_events = None  # the purchases build the table too
    if weights.neighbour_source == ns.INTERACTIONS:  # the table the bundle was built with
        table_events = user_item_times(events, index, events[S.EVENT_TYPE].isin(ns.POSITIVE_TYPES))
    from offline.model.item_graph import NeighbourModel

    neighbours = int(block.get("neighbours", 20))
    # the bundle's neighbour model (no record: a bundle from before the choice, cosine)
    model = NeighbourModel.from_record(block.get("neighbour_model"), neighbours)
    table, trend, zero = hybrid_parts(
        *user_item_times(events, index, events[S.EVENT_TYPE] == S.EventType.PURCHASE.value),
        at.timestamp(), len(index), neighbours, float(block.get("trend_days", 14.0)), table_events, model,
    )
    return weights, table, trend, zero


def newest_bought(events: pd.DataFrame, index: dict, at: pd.Timestamp, set_max: int) -> dict[str, list[int]]:
    """``{user: sorted catalogue rows}`` of each user's bought set as serving holds it at ``at``:
    the ``set_max`` items with the newest purchases before ``at`` (fulcrum/core/user_state.py caps
    the stored set the same way, ``FULCRUM_USER_SET_MAX``), items outside ``index`` left out after
    the cap, as the profile fold keeps unknown ids in the set and serving skips them."""
    p = events[(events[S.EVENT_TYPE] == S.EventType.PURCHASE.value) & events[S.USER_ID].notna()]
    p = p.assign(_t=pd.to_datetime(p[S.TIMESTAMP], utc=True), _u=p[S.USER_ID].astype(str),
                 _i=p[S.ITEM_ID].astype(str))
    p = p[p["_t"] < at].sort_values("_t", kind="stable")
    newest = p.drop_duplicates(["_u", "_i"], keep="last").groupby("_u", sort=False).tail(set_max)
    rows = newest["_i"].map(index)
    newest = newest.assign(_row=rows)[rows.notna()]
    return {u: sorted(int(v) for v in g) for u, g in newest.groupby("_u")["_row"]}


def _hybrid_adjust(parts, index: dict, events: pd.DataFrame, at: pd.Timestamp):
    """``adjust(user, cosine)`` of the hybrid score with ``parts`` (``hybrid_parts_at``) and each
    user's neighbour sources before ``at`` (their purchases; under the bundle's interactions
    source, fulcrum/core/neighbour_source.py's rule on their profile), which also get the repeat
    term, graded from the same profile as the bundle says (fulcrum/core/repeat_term.py); None
    without parts."""
    from fulcrum.core import hybrid as hy

    if parts is None:
        return None
    weights, table, trend, _ = parts
    own: dict = {}
    if weights.neighbour_source == ns.INTERACTIONS:  # serving's rule on the profile as of ``at``
        from fulcrum.core.repeat_term import own_rows, profile_strengths
        from offline.report.bundle_model import profiles_at

        profiles = profiles_at(events, at.timestamp())
        bought = {
            u: sorted({index[i] for i in ns.profile_sources(p, ns.INTERACTIONS) if i in index})
            for u, p in profiles.items()
        }
        if weights.repeat > 0:
            shape = weights.repeat_shape
            own = {u: own_rows(profile_strengths(p, shape), index) for u, p in profiles.items()}
    else:
        bought = newest_bought(events, index, at, configured_caps().set_max)

    def adjust(user: str, cosine: np.ndarray) -> np.ndarray:
        neighbour = table.scores(bought.get(user, []), len(cosine)) if weights.neighbour > 0 else None
        repeat = None
        if weights.repeat > 0:
            from fulcrum.core.repeat_term import repeat_vector

            mine = own.get(user)
            repeat = np.zeros(len(cosine)) if mine is None else repeat_vector(*mine, len(cosine))
        return hy.hybrid_scores(cosine, neighbour, trend, weights, repeat)

    return adjust


JUDGES = ("retrieval", "served")


def _served(bundle: Path, data, protocol):
    """The bundle as serving ranks (retrieval -> the default ``ranking_mode`` of online.config),
    through offline/report's BundleModel; returns (recommend_fn, version)."""
    import dataclasses

    from offline.report.bundle_model import BundleModel
    from offline.report.serving_order import serving_defaults
    from offline.report.tradeoff import recommend_fn

    model = BundleModel(Path(bundle), data)
    manifest = json.loads((Path(bundle) / bf.MANIFEST).read_text())
    version = manifest.get("version", Path(bundle).name)
    parts = hybrid_parts_at(
        manifest, dict(model.cat.index), data.train_events(), pd.Timestamp(data.split.cutoff)
    )
    if parts is not None:  # no look-ahead into the slice being judged (see hybrid_parts_at)
        _, table, trend, zero = parts
        model.cat = dataclasses.replace(model.cat, neighbours=table, trend=trend, trend_pad=zero)
    serving = serving_defaults()
    fn = recommend_fn(
        model,
        protocol.head_items,
        serving["ranking_mode"],
        blend_weight=serving["blend_weight"],
        cancel_risk_weight=serving["cancel_risk_weight"],
    )
    return fn, str(version)


def evaluate_bundles(
    bundles: dict[str, Path], data_dir: Path, k_list: Sequence[int] = (10, 20), judge: str = "retrieval"
) -> dict[str, dict]:
    """``{name: evaluate_recommender(...) result}`` on the TEST split of ``data_dir`` (a time
    split): for `fulcrum retrain` the newest days of the merged events, which the candidate never
    trained on. Every bundle must be out of sample there (``offline.report.bundle_guard``): a
    ``candidate`` that trained on the slice is refused (``InSampleError``); the serving bundle
    is scored anyway and its result carries ``in_sample`` (the advantage can only make a
    promotion harder, never easier).

    ``judge``: ``retrieval`` (user encoder + item embeddings, this module) or ``served``
    (retrieval then the ranking head, as serving orders candidates before its re-ranking rules).
    """
    from fulcrum.core.bundle_format import sha256_file
    from offline.data.dataset import load_prepared
    from offline.data.split import TIME
    from offline.eval.harness import evaluate_recommender
    from offline.eval.protocol import protocol_for
    from offline.report.bundle_guard import InSampleError, check_out_of_sample

    if judge not in JUDGES:
        raise ValueError(f"judge: {judge!r} is not one of {JUDGES}")
    data = load_prepared(data_dir)
    if data.split.kind != TIME:
        raise ValueError(f"{data_dir}: the judge needs a time split (one cut), not {data.split.kind!r}")
    if len(data.test_purchases()) == 0:
        raise ValueError(
            f"{data_dir}: the judge's slice (the test split from {data.split.cutoff}) holds no purchase"
        )
    protocol = protocol_for(data)
    at = pd.Timestamp(data.split.cutoff)
    train = data.train_events()
    fingerprint = sha256_file(Path(data_dir) / S.EVENTS_FILE)
    results = {}
    for name, path in bundles.items():
        manifest = json.loads((Path(path) / bf.MANIFEST).read_text())
        in_sample = ""
        try:
            check_out_of_sample(
                manifest, f"{name} bundle {path}", fingerprint, at.timestamp(), per_user=False
            )
        except InSampleError as e:
            if name != "serving":
                raise
            in_sample = str(e)
        if judge == "served":
            rec, version = _served(Path(path), data, protocol)
        else:
            rec = BundleRecommender(Path(path), train, at, sorted(protocol.candidate_pool))
            version = rec.version
        res = evaluate_recommender(rec, data, k_list=k_list, protocol=protocol)
        res["bundle_version"] = version
        res["judge"] = judge
        res["slice"] = {"from": at.isoformat(), "in_sample": in_sample}
        results[name] = res
    return results
