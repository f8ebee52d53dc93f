"""`fulcrum data prepare --keep-unsold-items`: catalogue items without events are written."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core import schema as S
from offline.data.dataset import load_prepared
from tests.offline.data.test_data_generic import _events_frame, _items_frame


def _prepare(tmp_path, *extra: str):
    _events_frame().to_csv(tmp_path / "events.csv", index=False)
    _items_frame().to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / ("kept" if extra else "plain")
    result = CliRunner().invoke(app, ["data", "prepare", "--events", str(tmp_path / "events.csv"),
                                      "--items", str(tmp_path / "items.csv"), "--split", "time",
                                      "--cutoff", "2024-03-15", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return load_prepared(out)


def test_unsold_catalogue_items_are_kept_only_when_asked(tmp_path):
    plain = _prepare(tmp_path)
    kept = _prepare(tmp_path, "--keep-unsold-items")
    # i19 and zz have no events (see test_data_generic): 2 more rows, with catalogue text and price
    assert len(kept.items) == len(plain.items) + 2
    rows = kept.items.set_index(S.ITEM_ID)
    assert rows.loc["zz", S.ITEM_TEXT] == "never sold" and rows.loc["zz", S.PRICE] == 1.0
    assert rows.loc["i19", S.ITEM_TEXT] == "Thing 19" and rows.loc["i19", S.PRICE] == 19.0
    # first seen = the newest event's time; the events themselves are untouched
    assert rows.loc["zz", S.FIRST_SEEN] == pd.Timestamp("2024-03-20T10:00:00", tz="UTC")
    assert len(kept.events) == len(plain.events)
    assert kept.split.cleaning["notes"]["catalogue items without events (kept)"] == 2


def test_keep_unsold_items_needs_a_catalogue_file(tmp_path):
    _events_frame().to_csv(tmp_path / "events.csv", index=False)
    result = CliRunner().invoke(app, ["data", "prepare", "--events", str(tmp_path / "events.csv"),
                                      "--cutoff", "2024-03-15", "--keep-unsold-items"])
    assert result.exit_code == 2 and "--items" in result.output
