"""The generic adapter (CSV and parquet), both split kinds, and the loader API."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core import schema as S
from offline.data import generic
from offline.data.dataset import load_prepared
from offline.data.prepare import finalize


def _events_frame() -> pd.DataFrame:
    rows = []
    # 12 users; each buys items on three days; user k buys items k, k+1 ... (mod 20)
    for u in range(12):
        for d, day in enumerate(["2024-03-01T10:00:00", "2024-03-10T10:00:00", "2024-03-20T10:00:00"]):
            for j in range(2):
                rows.append({"user_id": f"u{u}", "item_id": f"i{(u + 2 * d + j) % 20}",
                             "event_type": "purchase", "timestamp": day, "quantity": "1", "price": "2.5",
                             "session_id": f"s{u}-{d}"})
            rows.append({"user_id": f"u{u}", "item_id": f"i{(u + 7) % 20}", "event_type": "VIEW",
                         "timestamp": day, "quantity": "", "price": "", "session_id": f"s{u}-{d}"})
    dirty = [
        {"user_id": "", "item_id": "i1", "event_type": "PURCHASE", "timestamp": "2024-03-02T00:00:00"},
        {"user_id": "u1", "item_id": "i1", "event_type": "TELEPORT", "timestamp": "2024-03-02T00:00:00"},
        {"user_id": "u1", "item_id": "x" * 200, "event_type": "VIEW", "timestamp": "2024-03-02T00:00:00"},
        {"user_id": "u1", "item_id": "i1", "event_type": "PURCHASE", "timestamp": "2024-03-02T00:00:00",
         "quantity": "-3"},
        {"user_id": "u1", "item_id": "i1", "event_type": "PURCHASE", "timestamp": "2024-03-02T00:00:00",
         "price": "-1"},
    ]
    frame = pd.DataFrame(rows + dirty).fillna("")
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    frame.loc[len(frame)] = frame.iloc[0]  # an exact duplicate event id
    return frame


def _items_frame() -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"i{k}" for k in range(20)] + ["i3", "zz"],
                         "text": [f"Thing {k}" for k in range(20)] + ["dup", "never sold"],
                         "price": [float(k) for k in range(20)] + [1.0, 1.0]})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generic_load_counts_dirty_rows(tmp_path, fmt):
    ev, it = _events_frame(), _items_frame()
    if fmt == "csv":
        ev.to_csv(tmp_path / "events.csv", index=False)
        it.to_csv(tmp_path / "items.csv", index=False)
    else:
        ev.to_parquet(tmp_path / "events.parquet")
        it.to_parquet(tmp_path / "items.parquet")
    events, items, report = generic.load(tmp_path / f"events.{fmt}", tmp_path / f"items.{fmt}")
    assert report.raw_rows == 12 * 3 * 3 + 5 + 1
    assert report.dropped == {generic.RULE_MISSING_ID: 1, generic.RULE_EVENT_TYPE: 1, generic.RULE_LONG_ID: 1,
                              generic.RULE_QUANTITY: 1, generic.RULE_PRICE: 1, generic.RULE_DUPLICATE: 1}
    assert len(events) == 12 * 3 * 3
    # "purchase" is upper-cased; views get the default quantity 1
    assert (events[S.EVENT_TYPE] == "PURCHASE").sum() == 72
    assert (events.loc[events[S.EVENT_TYPE] == "VIEW", S.QUANTITY] == 1.0).all()
    by_id = items.set_index(S.ITEM_ID)
    # catalogue text and price win; the duplicate "i3" row is ignored; "zz" has no events
    assert by_id.loc["i3", S.ITEM_TEXT] == "Thing 3" and by_id.loc["i3", S.PRICE] == 3.0
    assert "zz" not in by_id.index
    # purchases reach items u + 2d + j <= 11 + 4 + 1 = 16, views (u + 7) <= 18: i19 and zz have no events
    assert report.notes["catalogue items without events (not written)"] == 2


def test_time_split_and_validation(tmp_path):
    path = tmp_path / "events.csv"
    _events_frame().to_csv(path, index=False)
    events, items, report = generic.load(path)
    prepared = finalize(events, items, report, "time", "generic/time", cutoff="2024-03-15")
    ev = prepared.events
    assert set(ev.loc[ev[S.TIMESTAMP] < pd.Timestamp("2024-03-15", tz="UTC"), S.SPLIT]) == {"train"}
    assert set(ev.loc[ev[S.TIMESTAMP] >= pd.Timestamp("2024-03-15", tz="UTC"), S.SPLIT]) == {"test"}
    # validation: last 14 days of train = from 2024-03-01 on, so the 03-10 basket is validation test
    val = prepared.validation_split()
    assert val.split.cutoff == pd.Timestamp("2024-03-01", tz="UTC")
    assert val.events[S.TIMESTAMP].max() < pd.Timestamp("2024-03-15", tz="UTC")  # never the real test
    assert len(val.events) == len(prepared.train_events())
    assert set(val.test_purchases()[S.TIMESTAMP].dt.day) == {1, 10}
    # no train purchases before 03-01 in validation, so every validation user is cold
    assert val.train_purchases().empty


def test_leave_last_out(tmp_path):
    path = tmp_path / "events.parquet"
    _events_frame().to_parquet(path)
    events, items, report = generic.load(path)
    prepared = finalize(events, items, report, "leave-last-out", "generic/llo")
    test = prepared.test_events()
    # every user's last purchase moment is 2024-03-20: its 2 purchases and the view are test
    assert set(test[S.TIMESTAMP]) == {pd.Timestamp("2024-03-20T10:00:00", tz="UTC")}
    assert len(test) == 12 * 3
    assert prepared.split.counts["cold_test_users"] == 0
    val = prepared.validation_split()
    assert set(val.test_events()[S.TIMESTAMP]) == {pd.Timestamp("2024-03-10T10:00:00", tz="UTC")}


def test_leave_last_out_single_basket_user_stays_train():
    events = pd.DataFrame({
        S.EVENT_ID: ["a", "b", "c"], S.USER_ID: ["u1", "u2", "u2"], S.ITEM_ID: ["i1", "i1", "i2"],
        S.EVENT_TYPE: ["PURCHASE"] * 3, S.QUANTITY: 1.0, S.PRICE: 1.0, S.SESSION_ID: "",
        S.TIMESTAMP: pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"], utc=True),
    })
    from offline.data.split import leave_last_out_split
    # u1 bought once: all train; u2 bought on two days: the later one is test
    assert list(leave_last_out_split(events)) == ["train", "train", "test"]


def test_cli_generic_prepare(tmp_path):
    _events_frame().to_csv(tmp_path / "events.csv", index=False)
    _items_frame().to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["data", "prepare", "--events", str(tmp_path / "events.csv"),
                                      "--items", str(tmp_path / "items.csv"), "--split", "time",
                                      "--cutoff", "2024-03-15", "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_prepared(out)
    assert loaded.split.protocol == "generic/time"
    assert loaded.split.counts["purchase_rows"] == 72
    assert "raw rows read" in result.output


def test_cli_time_split_needs_cutoff(tmp_path):
    _events_frame().to_csv(tmp_path / "events.csv", index=False)
    result = CliRunner().invoke(app, ["data", "prepare", "--events", str(tmp_path / "events.csv")])
    assert result.exit_code == 2
    assert "--cutoff" in result.output
