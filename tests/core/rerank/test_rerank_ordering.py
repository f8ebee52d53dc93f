"""Hand-worked tests of fulcrum.core.rerank.ordering (the score Recommend/Search sort candidates by)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fulcrum.core.rerank.ordering import needs_ranker, ordering_scores, zscore

RET = np.array([0.9, 0.5, 0.1])
BUY = np.array([0.2, 0.6, 0.4])
CANCEL = np.array([0.5, 0.0, 1.0])


def test_retrieval_mode_is_the_retrieval_score():
    out = ordering_scores(RET, BUY, CANCEL, mode="retrieval")
    assert out.tolist() == pytest.approx([0.9, 0.5, 0.1])
    assert ordering_scores(RET).tolist() == pytest.approx([0.9, 0.5, 0.1])  # no ranker needed


def test_ranker_mode_is_purchase_prob():
    assert ordering_scores(RET, BUY, CANCEL, mode="ranker").tolist() == pytest.approx([0.2, 0.6, 0.4])


def test_zscore_hand_worked():
    # [0.9, 0.5, 0.1]: mean 0.5, population std sqrt((0.16 + 0 + 0.16) / 3) = sqrt(0.32/3) = 0.326599
    # -> [0.4/0.326599, 0, -0.4/0.326599] = [1.224745, 0, -1.224745]
    assert zscore(RET).tolist() == pytest.approx([1.224745, 0.0, -1.224745], abs=1e-6)
    # a constant list has no spread -> all zeros; empty stays empty
    assert zscore(np.array([3.0, 3.0])).tolist() == [0.0, 0.0]
    assert zscore(np.array([])).size == 0


def test_blend_mode_hand_worked():
    # z(RET) = [1.224745, 0, -1.224745]
    # BUY [0.2, 0.6, 0.4]: mean 0.4, std sqrt((0.04 + 0.04 + 0) / 3) = 0.163299
    #   -> z = [-1.224745, 1.224745, 0]
    # w = 0.25: 0.75 * z(RET) + 0.25 * z(BUY)
    #   = [0.918559 - 0.306186, 0 + 0.306186, -0.918559 + 0] = [0.612372, 0.306186, -0.918559]
    out = ordering_scores(RET, BUY, mode="blend", blend_weight=0.25)
    assert out.tolist() == pytest.approx([0.612372, 0.306186, -0.918559], abs=1e-6)
    # the weight's ends are the two pure orders (as z-scores)
    assert np.argsort(-ordering_scores(RET, BUY, mode="blend", blend_weight=0.0)).tolist() == [0, 1, 2]
    assert np.argsort(-ordering_scores(RET, BUY, mode="blend", blend_weight=1.0)).tolist() == [1, 2, 0]


def test_cancel_risk_is_subtracted():
    # retrieval [0.9, 0.5, 0.1] - 0.5 * cancel [0.5, 0, 1] = [0.65, 0.5, -0.4]
    out = ordering_scores(RET, BUY, CANCEL, mode="retrieval", cancel_risk_weight=0.5)
    assert out.tolist() == pytest.approx([0.65, 0.5, -0.4])
    # ranker [0.2, 0.6, 0.4] - 0.3 * [0.5, 0, 1] = [0.05, 0.6, 0.1] -> order 1, 2, 0
    out = ordering_scores(RET, BUY, CANCEL, mode="ranker", cancel_risk_weight=0.3)
    assert out.tolist() == pytest.approx([0.05, 0.6, 0.1])
    assert np.argsort(-out).tolist() == [1, 2, 0]
    # a large weight lets cancellation risk reorder the retrieval list: 0.9 - 1.0*0.5 = 0.4 < 0.5
    out = ordering_scores(RET, BUY, CANCEL, mode="retrieval", cancel_risk_weight=1.0)
    assert np.argsort(-out).tolist() == [1, 0, 2]


def test_needs_ranker():
    assert not needs_ranker("retrieval", 0.0)
    assert needs_ranker("retrieval", 0.1)
    assert needs_ranker("ranker", 0.0)
    assert needs_ranker("blend", 0.0)


def test_inputs_are_not_modified():
    ret = RET.copy()
    ordering_scores(ret, BUY, CANCEL, mode="retrieval", cancel_risk_weight=1.0)
    assert ret.tolist() == RET.tolist()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "best"}, "mode must be one of"),
        ({"mode": "blend", "blend_weight": 1.5}, "blend_weight"),
        ({"cancel_risk_weight": -0.1}, "cancel_risk_weight must be >= 0"),
    ],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ordering_scores(RET, BUY, CANCEL, **kwargs)


def test_missing_or_misshapen_ranker_outputs():
    with pytest.raises(ValueError, match="purchase_prob"):
        ordering_scores(RET, mode="ranker")
    with pytest.raises(ValueError, match="cancel_prob"):
        ordering_scores(RET, BUY, mode="retrieval", cancel_risk_weight=0.2)
    with pytest.raises(ValueError, match="purchase has shape"):
        ordering_scores(RET, BUY[:2], mode="ranker")


def test_config_fields_default_env_and_validation():
    from fulcrum.core.errors import ConfigError
    from online.config import build_config, env_var_names

    cfg = build_config({}, env={})
    assert (cfg.ranking_mode, cfg.blend_weight, cfg.cancel_risk_weight) == ("retrieval", 0.5, 0.0)
    names = {"FULCRUM_RANKING_MODE", "FULCRUM_BLEND_WEIGHT", "FULCRUM_CANCEL_RISK_WEIGHT"}
    assert names <= set(env_var_names())
    cfg = build_config(
        {"ranking_mode": "ranker"}, env={"FULCRUM_RANKING_MODE": "blend", "FULCRUM_BLEND_WEIGHT": "0.3"}
    )
    assert (cfg.ranking_mode, cfg.blend_weight) == ("blend", 0.3)
    with pytest.raises(ConfigError, match="ranking_mode"):
        build_config({"ranking_mode": "best"}, env={})
    with pytest.raises(ConfigError, match="cancel_risk_weight"):
        build_config({}, env={"FULCRUM_CANCEL_RISK_WEIGHT": "-1"})
    with pytest.raises(ConfigError, match="blend_weight"):
        build_config({"blend_weight": 2}, env={})


def test_offline_report_reads_the_serving_default_without_grpc():
    import subprocess
    import sys

    code = (
        "import sys; from offline.report.serving_order import serving_order; print(serving_order()); "
        "heavy = ('grpc', 'onnxruntime', 'feast', 'torch'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    root = Path(__file__).resolve().parents[3]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    out = run.stdout
    assert out.split() == ["retrieval", "[]"]


def test_report_labels_the_serving_default_row():
    from offline.report.markdown import recommenders_table, serving_sentence

    warm = {"warm": {"ndcg@10": 0.1}}
    rec = {
        "model": {"metrics": warm, "settings": {"relevance": "ranker", "serving_default": False}},
        "model (retrieval only)": {
            "metrics": warm,
            "settings": {"relevance": "retrieval", "serving_default": True},
        },
        "popularity": {"metrics": warm},
    }
    table = recommenders_table(rec)
    assert table[2].startswith("| model | ") and "serving default" not in table[2]
    assert table[3].startswith("| model (retrieval only) **(serving default)** | ")
    text = serving_sentence(
        {"serving": {"ranking_mode": "retrieval", "cancel_risk_weight": 0.0}, "recommenders": rec}
    )
    assert "`ranking_mode: retrieval`" in text and "`model (retrieval only)` row" in text
