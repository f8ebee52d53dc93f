"""What the towers learn from (``retrieval.targets``, offline/model/examples.py).

``interactions`` makes every positive behaviour a cut and its next ``next_events`` positive
events targets too; on a log whose only positive behaviour is the purchase it gives exactly the
purchase examples. Hand-worked on a multi-behaviour log, compared with the purchase path on random
purchase-only logs, bounded on a view-heavy user, and refused loudly when misconfigured.
"""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core.errors import ConfigError
from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.examples import Examples, build_examples
from offline.model.retrieval_fit import epoch_cuts
from offline.train_config import config_from_dict
from tests.offline.model.test_examples_scale import _inter

P, V, C = EVENT_TYPE_CODE["PURCHASE"], EVENT_TYPE_CODE["VIEW"], EVENT_TYPE_CODE["ADD_TO_CART"]
X, D = EVENT_TYPE_CODE["CANCEL"], EVENT_TYPE_CODE["DISLIKE"]
H = 3_600.0

# one shopper, hour by hour: view 1, view 2, cart 2, buy 2, dislike 4, view 2 again, view 3, buy 3
LOG = (
    np.array([1, 2, 2, 2, 4, 2, 3, 3]),
    np.array([V, V, C, P, D, V, V, P]),
    np.arange(8) * H,
)


def _cuts(ex: Examples) -> list[tuple[float, int, list[int]]]:
    """(cut hour, history length, sorted targets) per cut."""
    return [
        (float(ex.time[c]) / H, int(ex.hist_end[c]), sorted(ex.target[ex.ptr[c] : ex.ptr[c + 1]].tolist()))
        for c in range(ex.n_cuts)
    ]


def test_purchase_targets_hand_worked() -> None:
    # cuts are the two purchase moments; a 1-day horizon reaches both purchases from hour 3
    ex = build_examples(_inter([LOG], 5), -np.inf, np.inf, 1.0, new_only=True)
    assert _cuts(ex) == [(3.0, 3, [2, 3]), (7.0, 7, [3])]


def test_interaction_targets_hand_worked() -> None:
    ex = build_examples(_inter([LOG], 5), -np.inf, np.inf, 1.0, new_only=True, next_events=1)
    # every positive moment is a cut (hour 4's dislike is not; hour 0 has no history before it);
    # targets: the purchases of the next day (2 until it is bought at hour 3, then 3) plus the
    # next positive event (hour 1: view 2; hour 2: cart 2; hour 3: buy 2; hour 5: view 2, an item
    # bought at hour 3, so not new; hour 6: view 3; hour 7: buy 3)
    assert _cuts(ex) == [
        (1.0, 1, [2, 3]), (2.0, 2, [2, 3]), (3.0, 3, [2, 3]), (5.0, 5, [3]), (6.0, 6, [3]), (7.0, 7, [3]),
    ]
    # every later purchase too (next_all): hour 5's re-view of item 2 is a target
    ex = build_examples(_inter([LOG], 5), -np.inf, np.inf, 1.0, new_only=False, next_events=1)
    assert _cuts(ex)[3] == (5.0, 5, [2, 3])


def test_interaction_targets_horizon_zero_is_next_item() -> None:
    # horizon 0: a cut's window is its own moment, so each target is the event at the cut
    ex = build_examples(_inter([LOG], 5), -np.inf, np.inf, 0.0, new_only=False, next_events=1)
    assert _cuts(ex) == [
        (1.0, 1, [2]), (2.0, 2, [2]), (3.0, 3, [2]), (5.0, 5, [2]), (6.0, 6, [3]), (7.0, 7, [3]),
    ]


def test_interaction_targets_stop_at_the_users_end() -> None:
    # t_hi at hour 6: cuts before it only, targets before it only (hour 7's purchase is out)
    ex = build_examples(_inter([LOG], 5), -np.inf, 6 * H, 1.0, new_only=False, next_events=1)
    assert _cuts(ex) == [(1.0, 1, [2]), (2.0, 2, [2]), (3.0, 3, [2]), (5.0, 5, [2])]


def _purchase_only_user(rng, n_events: int, n_items: int):
    times = np.sort(rng.integers(0, 60, n_events)).astype(np.float64) * 86_400.0 / 4
    codes = np.where(rng.random(n_events) < 0.85, P, X)  # cancellations are not positive
    return rng.integers(0, n_items, n_events), codes, times


@pytest.mark.parametrize("new_only", [True, False])
@pytest.mark.parametrize(("horizon", "max_window"), [(0.0, 256), (3.0, 256), (7.0, 4)])
def test_purchase_only_log_gives_the_same_examples(new_only: bool, horizon: float, max_window: int) -> None:
    rng = np.random.default_rng(11)
    users = [_purchase_only_user(rng, int(rng.integers(1, 50)), 12) for _ in range(40)]
    inter = _inter(users, 12)
    t_hi = rng.uniform(2, 16, len(users)) * 86_400.0  # one end per user (leave-last-out style)
    old = build_examples(inter, -np.inf, t_hi, horizon, new_only, max_window)
    assert len(old) > 100  # the random log does give examples
    for k in sorted({1, 2, max_window}):
        new = build_examples(inter, -np.inf, t_hi, horizon, new_only, max_window, next_events=k)
        for f in ("user", "hist_end", "time", "ptr", "target"):
            np.testing.assert_array_equal(getattr(new, f), getattr(old, f), err_msg=f"next_events={k}: {f}")


def test_view_heavy_user_stays_linear() -> None:
    # 20,000 views and 200 purchases in a week: every positive event is a cut, and each cut has at
    # most next_events + max_window targets (the next events, the purchases of its horizon)
    rng = np.random.default_rng(3)
    n = 20_200
    codes = np.full(n, V)
    codes[rng.choice(n, 200, replace=False)] = P
    log = (rng.integers(0, 5_000, n), codes, np.sort(rng.uniform(0, 7 * 86_400.0, n)))
    ex = build_examples(_inter([log], 5_000), -np.inf, np.inf, 7.0, False, max_window=16, next_events=2)
    assert ex.n_cuts > 19_000
    assert len(ex) <= ex.n_cuts * (2 + 16)
    assert len(ex) > ex.n_cuts * 2  # the purchase windows do add targets at view cuts


def test_bad_next_events_is_refused() -> None:
    with pytest.raises(ValueError, match="next_events"):
        build_examples(_inter([LOG], 5), -np.inf, np.inf, 1.0, True, next_events=-1)


def test_config_names_the_fields() -> None:
    cfg = config_from_dict({})
    assert cfg.retrieval.targets == "interactions" and cfg.retrieval.next_events == 4
    with pytest.raises(ConfigError, match=r"retrieval\.targets"):
        config_from_dict({"retrieval": {"targets": "views"}})
    with pytest.raises(ConfigError, match=r"retrieval\.next_events"):
        config_from_dict({"retrieval": {"next_events": 9, "max_window_purchases": 8}})
    with pytest.raises(ConfigError, match=r"retrieval\.max_cuts_per_epoch"):
        config_from_dict({"retrieval": {"max_cuts_per_epoch": -1}})


def test_epoch_cuts() -> None:
    # 10 cuts: a budget of 5 takes 5, no budget (0) or a budget of 10 or more takes all 10
    ex = Examples(
        np.zeros(10, np.int64), np.ones(10, np.int64), np.zeros(10), np.arange(0, 101, 10),
        np.zeros(100, np.int64),
    )
    assert epoch_cuts(ex, 5) == 5
    assert epoch_cuts(ex, 0) == 10
    assert epoch_cuts(ex, 10) == 10
    assert epoch_cuts(ex, 11) == 10


def test_train_on_a_multi_behaviour_shop_learns_from_every_behaviour(tmp_path, tiny_bert_dir) -> None:
    """`fulcrum train` with the default targets on a shop with views: more examples than the
    purchases alone give, and the run and the manifest say what the towers learned from."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from fulcrum.cli import app
    from fulcrum.core import schema as S
    from offline.export.synthetic_data import make_synthetic
    from offline.model.interactions import load_interactions
    from tests.offline.model.test_train_splits import _tiny_config

    ev, items, split = make_synthetic(n_users=30, n_items=40, n_events=400, seed=2)
    bought = ev[ev[S.EVENT_TYPE] == "PURCHASE"]
    views = bought.assign(**{S.EVENT_TYPE: "VIEW", S.TIMESTAMP: bought[S.TIMESTAMP] - pd.Timedelta(hours=1),
                             S.EVENT_ID: "V" + bought[S.EVENT_ID].astype(str)})
    ev = pd.concat([ev, views]).sort_values([S.TIMESTAMP, S.EVENT_ID]).reset_index(drop=True)
    data = tmp_path / "data"
    data.mkdir()
    ev.to_parquet(data / S.EVENTS_FILE, index=False)
    items.to_parquet(data / S.ITEMS_FILE, index=False)
    (data / S.SPLIT_FILE).write_text(json.dumps(split))
    config = _tiny_config(tmp_path / "tiny.yaml", tiny_bert_dir)
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--config", str(config), "--out",
                                      str(tmp_path / "run"), "--bundle-out", str(tmp_path / "bundles"),
                                      "--no-ranker", "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    inter = load_interactions(data)
    cut = inter.validation_cuts(run["config"]["retrieval"]["validation_days"])
    purchases_only = build_examples(inter, -np.inf, cut, 7.0, True)
    assert run["counts"]["examples"] > len(purchases_only) > 0
    assert run["counts"]["cuts"] > purchases_only.n_cuts
    stage = run["stages"]["training_targets"]
    assert stage.startswith("interactions (retrieval.targets)")
    assert f"{run['counts']['examples']} examples" in stage
    manifest = json.loads((tmp_path / "bundles" / "LATEST" / "manifest.json").read_text())
    assert manifest["metrics"]["stages"]["training_targets"] == stage
