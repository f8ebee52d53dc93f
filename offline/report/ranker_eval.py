"""The bundle's ranking head on held-out rows: the same label rows as training (offline.ranking),
features from ``rank_features`` with the retrieval score computed by the bundle's own ONNX towers
(the way the head was trained: history ages relative to the profile's last activity), probabilities
from ``ranker.onnx``. The decision threshold comes from the validation rows, metrics from test rows.
"""

from __future__ import annotations

import numpy as np

from offline.ranking.config import RankerConfig
from offline.ranking.history import build_rank_rows
from offline.ranking.labels import label_rows
from offline.ranking.metrics import best_f1_threshold, head_metrics
from offline.ranking.slices import slice_plan
from offline.report.bundle_model import history

DAY_S = 86_400.0


def bundle_score_fn(model):
    cat, enc, max_len = model.cat, model.bundle.user_encoder, model.max_len

    def score(profiles, item_lists):
        out: list[np.ndarray] = [np.zeros(len(i)) for i in item_lists]
        hist, pos = [], []
        for r, p in enumerate(profiles):
            now = p.last_active if p.last_active is not None else 0.0
            h = history(p, cat, now, max_len)
            if h is not None:
                hist.append(h)
                pos.append(r)
        if hist:
            for r, v in zip(pos, enc(hist), strict=True):
                idx = np.array([cat.index.get(i, -1) for i in item_lists[r]], dtype=np.int64)
                s = cat.embeddings[np.maximum(idx, 0)] @ v
                out[r] = np.where(idx >= 0, s, 0.0)
        return out

    return score


def evaluate_bundle_ranker(model, prepared, cfg: RankerConfig | None = None) -> dict:
    """Metrics of the bundle's head on the test rows (threshold from the validation rows), for
    either split kind (``offline.ranking.slices.slice_plan``). A head that was switched off, or
    a cancellation head that was not trained, is reported as such (``heads``) without metrics."""
    cfg = cfg or RankerConfig()
    rng = np.random.default_rng(cfg.seed + 1)
    score_fn = bundle_score_fn(model)
    heads = model.ranker_heads()
    out = {}
    plan = slice_plan(prepared, cfg.val_days)
    for name in ("val", "test"):
        seen, positives, a, b, horizon = plan[name]
        rows = label_rows(
            seen, prepared.items, a, b, horizon, cfg.neg_per_pos, cfg.cancel_window_days, rng,
            positive_events=positives,
        )
        rr = build_rank_rows(seen, prepared.items, rows, score_fn)
        probs = model.bundle.ranker([rr.x])[0] if len(rr) else (np.zeros(0), np.zeros(0))
        out[name] = (rr, np.asarray(probs[0], np.float64), np.asarray(probs[1], np.float64))
    (vr, vp, vc), (tr, tp, tc) = out["val"], out["test"]
    vm, tm = vr.cancel_mask, tr.cancel_mask
    metrics: dict = {}
    curves: dict = {}
    if heads.get("purchase", "trained") == "trained" and len(tr) and len(vr):
        # the bundle emits calibrated probabilities only: raw = calibrated here
        metrics["purchase"] = head_metrics(tr.purchase, tp, tp, best_f1_threshold(vr.purchase, vp))
        curves["purchase"] = (tr.purchase.astype(int), tp)
    if heads.get("cancel", "trained") == "trained" and tm.any() and vm.any():
        thr_c = best_f1_threshold(vr.cancel[vm], vc[vm])
        metrics["cancel"] = head_metrics(tr.cancel[tm], tc[tm], tc[tm], thr_c)
        curves["cancellation"] = (tr.cancel[tm].astype(int), tc[tm])
    return {"metrics": metrics, "curves": curves, "rows": {"val": len(vr), "test": len(tr)}, "heads": heads}
