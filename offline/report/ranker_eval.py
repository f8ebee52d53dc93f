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
    cfg = cfg or RankerConfig()
    cutoff = prepared.split.cutoff.timestamp()
    val_start = cutoff - cfg.val_days * DAY_S
    rng = np.random.default_rng(cfg.seed + 1)
    score_fn = bundle_score_fn(model)
    out = {}
    for name, (a, b, horizon) in {
        "val": (val_start, cutoff, cutoff),
        "test": (cutoff, np.inf, np.inf),
    }.items():
        rows = label_rows(
            prepared.events, prepared.items, a, b, horizon, cfg.neg_per_pos, cfg.cancel_window_days, rng
        )
        rr = build_rank_rows(prepared.events, prepared.items, rows, score_fn)
        probs = model.bundle.ranker([rr.x])[0]
        out[name] = (rr, np.asarray(probs[0], np.float64), np.asarray(probs[1], np.float64))
    (vr, vp, vc), (tr, tp, tc) = out["val"], out["test"]
    vm, tm = vr.cancel_mask, tr.cancel_mask
    thr_p, thr_c = best_f1_threshold(vr.purchase, vp), best_f1_threshold(vr.cancel[vm], vc[vm])
    metrics = {
        # the bundle emits calibrated probabilities only: raw = calibrated here
        "purchase": head_metrics(tr.purchase, tp, tp, thr_p),
        "cancel": head_metrics(tr.cancel[tm], tc[tm], tc[tm], thr_c),
    }
    curves = {"purchase": (tr.purchase.astype(int), tp), "cancellation": (tr.cancel[tm].astype(int), tc[tm])}
    return {"metrics": metrics, "curves": curves, "rows": {"val": len(vr), "test": len(tr)}}
