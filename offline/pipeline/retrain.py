"""One retraining run: merge the offline store -> train -> export a candidate -> evaluate the
candidate and the serving bundle on the judge's slice (the newest ``JUDGE_DAYS`` of the merged
events, held out of the candidate's training) -> promote if at least as good.

The candidate is exported into ``<bundles>/.candidates/`` (so ``<bundles>/LATEST`` never points at
an unjudged bundle) and moved next to the other versions only when promoted. Telling the servers
is the caller's job (fulcrum.client.reload): this module never imports grpc.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from offline.pipeline.offline_store import MergeSummary, write_retrain_data
from offline.pipeline.promotion import DEFAULT_METRIC, Decision, current, decide, prune, publish

log = logging.getLogger(__name__)
CANDIDATES = ".candidates"
KEEP_REFUSED = 2

EvaluateFn = Callable[[dict[str, Path], Path], dict[str, dict]]


@dataclass
class RetrainOutcome:
    decision: Decision
    candidate: Path
    serving: Path | None
    published: Path | None
    metrics: dict[str, dict]
    merge: MergeSummary | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _evaluator(by: str) -> EvaluateFn:
    from offline.pipeline.bundle_eval import evaluate_bundles

    return lambda bundles, data: evaluate_bundles(bundles, data, judge=by)


#: how many of the newest days a retrain holds out to judge the candidate on
JUDGE_DAYS = 14.0


def train_candidate(
    data_dir: Path,
    offline_dir: Path | None,
    bundles_root: Path,
    work_dir: Path,
    cfg,
    progress: bool = True,
    timings: dict[str, float] | None = None,
) -> tuple[Path, Path, MergeSummary]:
    """Merge, train and export; returns (candidate bundle, retrain data folder, merge summary)."""
    from offline.export.bundle import export_bundle
    from offline.model.train_run import train_run

    timings = {} if timings is None else timings
    t = time.perf_counter()
    data = Path(work_dir) / "data"
    merge = write_retrain_data(
        Path(data_dir), offline_dir, data, validation_days=int(cfg.retrieval.validation_days),
        judge_days=JUDGE_DAYS,
    )
    timings["merge_s"] = time.perf_counter() - t
    t = time.perf_counter()
    run = train_run(data, cfg, Path(work_dir) / "run", progress=progress)
    timings["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    candidate = export_bundle(run.run_dir, Path(bundles_root) / CANDIDATES, sign=False)
    timings["export_s"] = time.perf_counter() - t
    return candidate, data, merge


def judge(
    candidate: Path,
    serving: Path | None,
    data: Path,
    bundles_root: Path,
    metric: str = DEFAULT_METRIC,
    tolerance: float = 0.0,
    evaluate: EvaluateFn | None = None,
    timings: dict[str, float] | None = None,
    by: str = "retrieval",
) -> RetrainOutcome:
    """Evaluate both bundles on ``data``'s test split (the judge's slice; a bundle that trained on
    it is refused by offline.report.bundle_guard), decide, publish when promoted.
    ``by``: the judge of offline.pipeline.bundle_eval (retrieval | served)."""
    timings = {} if timings is None else timings
    evaluate = evaluate or _evaluator(by)
    t = time.perf_counter()
    bundles = {"candidate": Path(candidate)}
    if serving is not None:
        bundles["serving"] = Path(serving)
    metrics = evaluate(bundles, Path(data))
    timings["evaluate_s"] = time.perf_counter() - t
    decision = decide(
        metrics["candidate"]["warm"],
        metrics["serving"]["warm"] if serving is not None else None,
        metric=metric,
        tolerance=tolerance,
    )
    published = None
    if decision.promote:
        staged = Path(candidate).resolve().parent == (Path(bundles_root) / CANDIDATES).resolve()
        published = publish(Path(candidate), Path(bundles_root), move=staged)
        log.info("promoted %s (%s)", published, decision.reason)
    else:
        log.info("refused %s (%s)", candidate, decision.reason)
        prune(Path(bundles_root) / CANDIDATES, KEEP_REFUSED)
    return RetrainOutcome(decision, Path(candidate), serving, published, metrics, timings=timings)


def retrain(
    data_dir: Path,
    bundles_root: Path,
    work_dir: Path,
    cfg,
    serving: Path | None = None,
    offline_dir: Path | None = None,
    candidate: Path | None = None,
    metric: str = DEFAULT_METRIC,
    tolerance: float = 0.0,
    progress: bool = True,
    evaluate: EvaluateFn | None = None,
    by: str = "retrieval",
) -> RetrainOutcome:
    """The whole job. ``serving`` defaults to what ``<bundles_root>/LATEST`` points to;
    ``candidate`` (an existing bundle) skips merging and training and is judged on ``data_dir``."""
    timings: dict[str, float] = {}
    serving = Path(serving).resolve() if serving is not None else current(bundles_root)
    merge = None
    if candidate is None:
        candidate, data, merge = train_candidate(
            data_dir, offline_dir, bundles_root, work_dir, cfg, progress, timings
        )
    else:
        data = Path(data_dir)
    outcome = judge(candidate, serving, data, bundles_root, metric, tolerance, evaluate, timings, by)
    outcome.merge = merge
    return outcome
