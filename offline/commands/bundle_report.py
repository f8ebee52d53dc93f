"""The `--bundle` part of `fulcrum evaluate` (called from offline/commands/evaluate.py)."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_BASELINES = ["popularity", "itemknn", "als"]


def bundle_report(
    bundle: Path, data: Path, baselines: list[str], ablation: Path | None, threads: int, console, err,
    out: Path | None = None,
) -> None:
    from offline.baselines.registry import check_names
    from offline.data.errors import DataError
    from offline.report.bundle_guard import InSampleError
    from offline.report.run import evaluate_bundle

    if not (Path(bundle) / "manifest.json").is_file():
        raise typer.BadParameter(f"{bundle}: no manifest.json (not a bundle folder)", param_hint="--bundle")
    try:
        names = check_names(baselines or DEFAULT_BASELINES)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--baseline") from e
    try:
        with console.status("evaluating the bundle") as status:
            payload = evaluate_bundle(
                bundle,
                data,
                names,
                out_dir=out,
                ablation_path=ablation,
                threads=threads,
                status=lambda s: status.update(s),
            )
    except (DataError, InSampleError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as e:
        from fulcrum.core.errors import BundleInvalid

        if isinstance(e, BundleInvalid):
            err.print(f"[red]error:[/red] bundle {bundle}: {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        raise
    rec = payload["recommenders"]
    for name, entry in rec.items():
        w = entry["metrics"]["warm"]
        console.print(
            f"{name:>24}: NDCG@10 {w['ndcg@10']:.4f}  Recall@10 {w['recall@10']:.4f}  "
            f"coverage@10 {w['coverage@10']:.3f}  tail share@10 {w['tail_share@10']:.3f}  "
            f"cold Recall@10 {entry['metrics']['cold']['recall@10']:.4f}"
        )
    best = payload["tradeoff"]["best"]
    console.print(
        f"re-rank: tail share@10 {best['tail_share@10']:.3f} at NDCG@10 {best['ndcg@10']:.4f} "
        f"(boost {best['boost']}, MMR {best['mmr_weight']})"
    )
    r, heads = payload["ranker"]["metrics"], payload["ranker"].get("heads", {})
    parts = [
        f"{head} PR-AUC {r[head]['pr_auc']:.4f}, ECE {r[head]['ece_cal']:.4f}"
        if head in r
        else f"{head} head {heads.get(head, 'not evaluated')}"
        for head in ("purchase", "cancel")
    ]
    console.print("ranker (test rows): " + "; ".join(parts))
    out = Path(out) if out is not None else Path(bundle) / "report"
    console.print(
        f"wrote {out / 'report.md'}, {out / 'metrics.json'} and {len(payload['figures'])} plots "
        f"in {payload['seconds']:.0f} s"
    )
