"""Guards: a bundle is never scored on data it trained on (`evaluate --bundle`, the retrain judge)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fulcrum.core import schema as S
from offline.report.bundle_guard import InSampleError, check_out_of_sample

DAY = 86_400.0
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def _manifest(last: float | None, sha: str = "aaa") -> dict:
    from datetime import UTC, datetime

    cut = {} if last is None else {
        "split": "time", "last_train_event": datetime.fromtimestamp(last, UTC).isoformat()}
    return {"training_cut": cut, "data_fingerprint": {"events_sha256": sha}}


def test_a_shared_cut_needs_the_last_train_event_strictly_before_it() -> None:
    check_out_of_sample(_manifest(T0 - 1), "b", "other", T0, per_user=False)  # one second before: fine
    for last in (T0, T0 + DAY):  # at or past the cut: refused, whatever data it came from
        with pytest.raises(InSampleError, match="at or past the evaluation cut"):
            check_out_of_sample(_manifest(last, sha="same"), "b", "same", T0, per_user=False)


def test_without_a_recorded_cut_only_the_same_data_test_split_passes() -> None:
    check_out_of_sample(_manifest(None, sha="same"), "b", "same", T0, per_user=False)
    with pytest.raises(InSampleError, match="records no training cut"):
        check_out_of_sample(_manifest(None, sha="x"), "b", "same", T0, per_user=False)
    with pytest.raises(InSampleError, match="records no training cut"):  # its own validation slice
        check_out_of_sample(_manifest(None, sha="same"), "b", "same", T0, per_user=False, slice_is_test=False)


def test_a_per_user_slice_needs_the_same_prepared_data() -> None:
    check_out_of_sample(_manifest(T0 + DAY, sha="same"), "b", "same", None, per_user=True)
    with pytest.raises(InSampleError, match="fingerprint differs"):
        check_out_of_sample(_manifest(T0 - DAY, sha="x"), "b", "same", None, per_user=True)
    with pytest.raises(InSampleError, match="last train basket"):
        check_out_of_sample(_manifest(T0, sha="same"), "b", "same", None, per_user=True, slice_is_test=False)


def test_evaluate_refuses_a_bundle_trained_past_the_cut(tiny_bundle: Path, tmp_path: Path) -> None:
    """The tiny bundle trained up to day 48 of its shop; the same events cut at day 30 hold test
    events it learnt from."""
    from fulcrum.cli import app

    src = tiny_bundle.parent.parent / "data"
    events = pd.read_parquet(src / S.EVENTS_FILE)
    cut = events[S.TIMESTAMP].min() + pd.Timedelta(days=30)
    events[S.SPLIT] = (events[S.TIMESTAMP] >= cut).map({True: "test", False: "train"})
    data = tmp_path / "data"
    data.mkdir()
    events.to_parquet(data / S.EVENTS_FILE, index=False)
    pd.read_parquet(src / S.ITEMS_FILE).to_parquet(data / S.ITEMS_FILE, index=False)
    split = json.loads((src / S.SPLIT_FILE).read_text())
    split.update(cutoff=cut.isoformat(), validation_start=(cut - pd.Timedelta(days=12)).isoformat())
    (data / S.SPLIT_FILE).write_text(json.dumps(split))
    bundle = tmp_path / "bundle"
    import shutil

    shutil.copytree(tiny_bundle, bundle)
    result = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--bundle", str(bundle)])
    assert result.exit_code == 2
    assert "refused" in result.output and "at or past the evaluation cut" in result.output
    assert not (bundle / "report").exists()


def test_the_retrain_judge_slice_is_disjoint_from_the_candidates_training(
    tiny_bundle: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from offline.data.dataset import load_prepared
    from offline.export.tiny import TINY_CONFIG
    from offline.pipeline.bundle_eval import evaluate_bundles
    from offline.pipeline.retrain import JUDGE_DAYS, train_candidate
    from offline.report.bundle_guard import training_cut
    from offline.train_config import config_from_dict

    src = tiny_bundle.parent.parent / "data"
    cfg = config_from_dict({**TINY_CONFIG, "ranker": "off",
                            "text": {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)}})
    candidate, judged_on, _ = train_candidate(src, None, tmp_path / "bundles", tmp_path / "work", cfg,
                                              progress=False)
    judged = load_prepared(judged_on)
    start = judged.split.cutoff.timestamp()
    slice_times = judged.test_events()[S.TIMESTAMP]
    assert len(slice_times) > 0 and (slice_times >= judged.split.cutoff).all()
    # the newest JUDGE_DAYS of the merged events are the slice
    last = judged.events[S.TIMESTAMP].max()
    assert judged.split.cutoff == last + pd.Timedelta(seconds=1) - pd.Timedelta(days=JUDGE_DAYS)
    _, trained_until = training_cut(json.loads((candidate / "manifest.json").read_text()))
    assert trained_until is not None and trained_until < start
    run = json.loads((tmp_path / "work" / "run" / "run.json").read_text())
    assert run["counts"]["train_events"] == int((judged.events[S.SPLIT] == "train").sum())

    # the judge scores that candidate, and refuses one that trained on the slice (the tiny bundle
    # learnt from every prepared train event, the slice included)
    res = evaluate_bundles({"candidate": candidate}, judged_on, k_list=(10,))
    assert res["candidate"]["slice"]["in_sample"] == ""
    with pytest.raises(InSampleError, match="candidate bundle"):
        evaluate_bundles({"candidate": tiny_bundle}, judged_on, k_list=(10,))
    served = evaluate_bundles({"candidate": candidate, "serving": tiny_bundle}, judged_on, k_list=(10,))
    assert "at or past the evaluation cut" in served["serving"]["slice"]["in_sample"]
