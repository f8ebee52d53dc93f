"""End to end on a tiny synthetic shop: rows -> every imbalance method -> calibrated ONNX ranker."""

import numpy as np
import pytest

from fulcrum.core.bundle_format import IN_FEATURES, OUT_CANCEL, OUT_PURCHASE
from fulcrum.core.rank_features import N_RANK_FEATURES
from offline.ranking.config import METHODS, ConfigError, RankerConfig
from offline.ranking.slices import build_slices
from offline.ranking.train import train_ranker
from tests.ranking_synthetic import synthetic_prepared

TINY = dict(hidden=16, epochs=8, lr=0.01, batch_size=128, gan_epochs=5, smote_k=3)


@pytest.fixture(scope="module")
def slices():
    return build_slices(synthetic_prepared(), RankerConfig(**TINY))


def test_slices_have_both_labels_and_hold_the_time_order(slices):
    for name in ("fit", "val", "test"):
        rows = getattr(slices, name)
        assert rows.x.shape[1] == N_RANK_FEATURES and len(rows) > 50
        assert set(np.unique(rows.purchase)) == {0, 1}
        assert ((rows.cancel == -1) == (rows.purchase == 0)).all()
    assert slices.fit.cancel[slices.fit.cancel_mask].sum() > 0
    assert len(slices.fit) > len(slices.val)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_gives_probabilities(slices, method):
    trained = train_ranker(slices, {**TINY, "method": method, "calibration": "platt"})
    for split in ("val", "test"):
        for head in ("purchase", "cancel"):
            m = trained.metrics[split][head]
            assert 0.0 <= m["ece_cal"] <= 1.0 and 0.0 <= m["recall_pos"] <= 1.0
    # the purchase head learns the users' favourites: better than the base rate
    test = trained.metrics["test"]["purchase"]
    assert test["pr_auc"] > test["positive_rate"]


def test_exported_module_runs_in_onnx_runtime(slices, tmp_path):
    import onnxruntime as ort
    import torch

    trained = train_ranker(slices, {**TINY, "method": "undersample", "calibration": "isotonic"})
    x = slices.test.x[:37]
    with torch.no_grad():
        p_t, c_t = trained.module(torch.as_tensor(x))
    path = tmp_path / "ranker.onnx"
    torch.onnx.export(
        trained.module,
        (torch.as_tensor(x[:4]),),
        str(path),
        input_names=[IN_FEATURES],
        output_names=[OUT_PURCHASE, OUT_CANCEL],
        dynamic_axes={IN_FEATURES: {0: "batch"}},
        dynamo=False,
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    p_o, c_o = sess.run([OUT_PURCHASE, OUT_CANCEL], {IN_FEATURES: x})
    assert p_o.shape == (37,) and c_o.shape == (37,)
    assert np.abs(p_o - p_t.numpy()).max() <= 1e-4 and np.abs(c_o - c_t.numpy()).max() <= 1e-4
    assert ((c_o >= 0) & (c_o <= 1)).all()
    # the module's probabilities are the head's calibrated ones
    ref = trained.head.predict(x)
    assert np.abs(ref["cancel"] - c_t.numpy()).max() < 1e-4


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="'method'"):
        RankerConfig(method="magic")
    with pytest.raises(ConfigError, match="undersample_rate"):
        RankerConfig(undersample_rate=0.0)
    with pytest.raises(ConfigError, match="unknown ranker config field"):
        RankerConfig.from_dict({"hiden": 3})
    assert RankerConfig.from_dict({"lr": 1}).lr == 1.0
