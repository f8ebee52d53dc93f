"""Run systems over judged queries and summarise: per-query metrics, per-kind means with
bootstrap intervals, paired differences, latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from offline.search_eval import bootstrap
from offline.search_eval.judged import JudgedQuery
from offline.search_eval.metrics import judged_fraction, ndcg_at_k, recall_at_k, reciprocal_rank

DEPTH = 50
METRICS = ("ndcg@10", "recall@50", "mrr", "zero_result", "judged@10")


def run(
    search: Callable[[str], list[str]], queries: Sequence[JudgedQuery]
) -> tuple[list[list[str]], list[float]]:
    """(ranked ids per query, latency ms per query) -- one call per query, timed end to end."""
    ranked, latency = [], []
    for q in queries:
        t = time.perf_counter()
        ranked.append(search(q.query))
        latency.append((time.perf_counter() - t) * 1000.0)
    return ranked, latency


def per_query(ranked: Sequence[list[str]], queries: Sequence[JudgedQuery]) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {m: [] for m in METRICS}
    for items, q in zip(ranked, queries, strict=True):
        out["ndcg@10"].append(ndcg_at_k(items, q.grades, 10))
        out["recall@50"].append(recall_at_k(items, q.grades, 50, 2))
        out["mrr"].append(reciprocal_rank(items, q.grades, 3))
        out["zero_result"].append(0.0 if items else 1.0)
        out["judged@10"].append(judged_fraction(items, q.grades, 10))
    return out


def _mean_ci(values: list[float | None], rows: np.ndarray, draws_seed: int) -> dict:
    vals = np.array([values[i] for i in rows if values[i] is not None], dtype=np.float64)
    if len(vals) == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    draws = bootstrap.resamples(len(vals), seed=draws_seed)
    lo, hi = bootstrap.interval(vals, draws)
    return {"mean": float(vals.mean()), "low": lo, "high": hi, "n": int(len(vals))}


def groups(queries: Sequence[JudgedQuery]) -> dict[str, np.ndarray]:
    """'all' plus one group per kind (in first-seen order)."""
    out = {"all": np.arange(len(queries))}
    for kind in dict.fromkeys(q.kind for q in queries):
        if kind != "all":
            out[kind] = np.array([i for i, q in enumerate(queries) if q.kind == kind])
    return out


def summarise(metrics: dict[str, list[float | None]], queries: Sequence[JudgedQuery]) -> dict:
    return {
        g: {m: _mean_ci(metrics[m], rows, seed) for seed, m in enumerate(METRICS)}
        for g, rows in groups(queries).items()
    }


def latency_summary(latency: Sequence[float]) -> dict:
    lat = np.asarray(latency, dtype=np.float64)
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "mean_ms": float(lat.mean()),
        "n": int(len(lat)),
    }


def paired(
    a: dict[str, list], b: dict[str, list], queries: Sequence[JudgedQuery], metric: str = "ndcg@10"
) -> dict:
    """Per group: mean difference a - b of ``metric`` with its paired-bootstrap interval."""
    out = {}
    for g, rows in groups(queries).items():
        x = np.array([a[metric][i] for i in rows], dtype=np.float64)
        y = np.array([b[metric][i] for i in rows], dtype=np.float64)
        out[g] = bootstrap.paired_difference(x, y, bootstrap.resamples(len(rows), seed=7))
    return out
