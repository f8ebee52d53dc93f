"""Any shop's shape at the data door: event-type aliases and --event-map, epoch timestamps,
item text assembled from whatever columns the items file has, the Taobao adapter."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core import schema as S
from offline.data import generic, taobao
from offline.data.event_names import parse_event_map, resolve_event_types
from offline.data.parsing import parse_timestamps


def test_event_names_resolve_aliases_schema_names_and_the_users_map() -> None:
    raw = pd.Series(["pv", "Cart", "fav", "buy", "PURCHASE", "view", "teleport"])
    assert resolve_event_types(raw).tolist() == [
        "VIEW", "ADD_TO_CART", "ADD_TO_CART", "PURCHASE", "PURCHASE", "VIEW", "TELEPORT",
    ]
    # the user's map wins over the built-in alias
    assert resolve_event_types(raw, parse_event_map(["fav=click"])).tolist()[2] == "CLICK"


@pytest.mark.parametrize("bad", ["fav", "=CLICK", "fav=TELEPORT"])
def test_event_map_names_a_bad_pair(bad: str) -> None:
    with pytest.raises(ValueError, match="fav|CLICK|TELEPORT"):
        parse_event_map([bad])


def test_timestamps_in_epoch_seconds_milliseconds_and_iso() -> None:
    # 1511544070 s = 2017-11-24 17:21:10 UTC; the same instant in milliseconds
    want = pd.Timestamp("2017-11-24 17:21:10", tz="UTC")
    assert parse_timestamps(pd.Series(["1511544070"]), "t", "f").iloc[0] == want
    assert parse_timestamps(pd.Series([1511544070000]), "t", "f").iloc[0] == want
    assert parse_timestamps(pd.Series(["2017-11-24T17:21:10"]), "t", "f").iloc[0] == want
    # 8 digits is not taken for epoch seconds (a compact date, or a mistake): ISO 8601 rules
    assert parse_timestamps(pd.Series(["20171124"]), "t", "f").iloc[0] == pd.Timestamp("2017-11-24", tz="UTC")


def test_item_text_from_whatever_columns_the_items_file_has() -> None:
    frame = pd.DataFrame({"item_id": ["a", "b", "c"], "category_id": ["12", "", "7"],
                          "brand": ["Acme", "Zed", ""], "price": ["1", "2", "3"]})
    # price and the id never enter the text; empty values are skipped
    assert generic.item_text_from_columns(frame).tolist() == ["category id 12. brand Acme", "brand Zed",
                                                               "category id 7"]
    with_text = frame.assign(text=["Red mug", "", "Blue cup"])
    assert generic.item_text_from_columns(with_text).tolist() == ["Red mug", "", "Blue cup"]


def _taobao_csv(path) -> None:
    rows = ["user_id,item_id,category_id,behavior_type,timestamp"]
    for u in range(3):
        for k, kind in enumerate(["pv", "pv", "fav", "cart", "buy"]):
            rows.append(f"{u},{100 + k},{k % 2},{kind},{1511544070 + 3600 * (10 * u + k)}")
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")


def test_taobao_adapter_maps_behaviours_and_categories(tmp_path) -> None:
    _taobao_csv(tmp_path / "ub.csv.gz")
    events, items, report = taobao.load(tmp_path / "ub.csv.gz")
    assert len(events) == 15 and report.raw_rows == 15
    assert events[S.EVENT_TYPE].value_counts().to_dict() == {"VIEW": 6, "ADD_TO_CART": 6, "PURCHASE": 3}
    assert report.notes["event type 'fav' read as ADD_TO_CART"] == 3
    text = dict(zip(items[S.ITEM_ID], items[S.ITEM_TEXT], strict=True))
    assert text["100"] == "category id 0" and text["101"] == "category id 1"
    assert events[S.TIMESTAMP].min() == pd.Timestamp("2017-11-24 17:21:10", tz="UTC")


def test_cli_prepares_items_without_text_and_multi_behaviour_events(tmp_path) -> None:
    ev = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2"],
        "item_id": ["a", "b", "a", "b", "c"],
        "event_type": ["pv", "favourite", "buy", "cart", "order"],
        "timestamp": [1700000000 + 60 * k for k in range(5)],
    })
    ev.to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["mugs", "cups", ""]}).to_csv(
        tmp_path / "items.csv", index=False)
    out = tmp_path / "data"
    result = CliRunner().invoke(app, [
        "data", "prepare", "--events", str(tmp_path / "events.csv"), "--items", str(tmp_path / "items.csv"),
        "--split", "leave-last-out", "--event-map", "favourite=CLICK", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(out / S.EVENTS_FILE)
    assert sorted(events[S.EVENT_TYPE]) == ["ADD_TO_CART", "CLICK", "PURCHASE", "PURCHASE", "VIEW"]
    items = pd.read_parquet(out / S.ITEMS_FILE).set_index(S.ITEM_ID)[S.ITEM_TEXT].to_dict()
    assert items == {"a": "category mugs", "b": "category cups", "c": ""}
