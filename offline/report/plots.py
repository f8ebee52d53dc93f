"""The report's PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

PR_CURVES = "pr_curves.png"
CALIBRATION = "calibration.png"
POPULARITY_EXPOSURE = "popularity_vs_exposure.png"
TRADEOFF = "tail_tradeoff.png"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pr_curves(heads: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """heads: name -> (y, prob). One panel per head, with the base rate as a dashed line."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _plt()
    fig, axes = plt.subplots(1, len(heads), figsize=(5 * len(heads), 4), squeeze=False)
    for ax, (name, (y, p)) in zip(axes[0], heads.items(), strict=True):
        if len(np.unique(y)) < 2:
            ax.set_title(f"{name}: one class only in the test rows")
            continue
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=f"AP {average_precision_score(y, p):.3f}")
        ax.axhline(float(np.mean(y)), ls="--", c="grey", label=f"base rate {np.mean(y):.3f}")
        ax.set(
            title=f"{name}: precision-recall (test rows)",
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration(heads: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, n_bins: int = 15) -> Path:
    from offline.ranking.ece import calibration_curve_points, expected_calibration_error

    plt = _plt()
    fig, axes = plt.subplots(1, len(heads), figsize=(5 * len(heads), 4), squeeze=False)
    for ax, (name, (y, p)) in zip(axes[0], heads.items(), strict=True):
        mp, rate, count = calibration_curve_points(y, p, n_bins)
        top = max(float(mp.max()) if len(mp) else 1.0, float(rate.max()) if len(rate) else 1.0) * 1.1
        ax.plot([0, top], [0, top], ls="--", c="grey")
        ax.scatter(
            mp,
            rate,
            s=10 + 90 * count / max(count.max(), 1),
            label=f"ECE {expected_calibration_error(y, p, n_bins):.4f}",
        )
        ax.plot(mp, rate)
        ax.set(
            title=f"{name}: calibration (test rows)",
            xlabel="mean predicted",
            ylabel="observed rate",
            xlim=(0, top),
            ylim=(0, top),
        )
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def popularity_vs_exposure(
    train_counts: Mapping[str, int], lists: Mapping[str, list[list[str]]], path: Path
) -> Path:
    """Cumulative share of recommendation slots (y) taken by the x most purchased train items, per
    list set, against the same curve for train purchases: a curve above the purchases' one
    concentrates exposure on the head; below it, the tail gets more than its share."""
    plt = _plt()
    items = sorted(train_counts, key=lambda i: -train_counts[i])
    rank = {i: r for r, i in enumerate(items)}
    n = len(items)
    x = np.arange(1, n + 1) / max(n, 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    pop = np.array([train_counts[i] for i in items], dtype=float)
    ax.plot(x, np.cumsum(pop) / max(pop.sum(), 1.0), c="grey", ls="--", label="train purchases")
    for name, ls in lists.items():
        exp = np.zeros(n)
        for rec in ls:
            for i in rec:
                if i in rank:
                    exp[rank[i]] += 1
        ax.plot(x, np.cumsum(exp) / max(exp.sum(), 1.0), lw=1.4, label=name)
    ax.axvline(0.2, c="black", lw=0.6, ls=":")
    ax.set(xlabel="share of items, most purchased first", ylabel="cumulative share of top-10 slots",
           title="popularity vs exposure (warm users)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff(points: list[dict], best: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for w in sorted({p["mmr_weight"] for p in points}):
        ps = [p for p in points if p["mmr_weight"] == w]
        ax.plot(
            [p["tail_share@10"] for p in ps], [p["ndcg@10"] for p in ps], marker="o", ms=3, label=f"MMR {w}"
        )
    ax.scatter(
        [best["tail_share@10"]],
        [best["ndcg@10"]],
        s=120,
        facecolors="none",
        edgecolors="red",
        label="best within 5 % NDCG loss",
    )
    ax.set(xlabel="tail share@10", ylabel="NDCG@10", title="accuracy / tail trade-off (tail boost sweep)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
