"""Events accepted by the server (IngestEvents) also reach the offline store when configured,
so `fulcrum retrain` sees them exactly as it sees events consumed from Kafka."""

from pathlib import Path

import pandas as pd

from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from online.config import ServeConfig
from online.server.command import _feature_side


def _purchase(i: int) -> Event:
    return Event(f"e{i}", EventType.PURCHASE, "u1", f"item{i}", 2.0, 1.5, 1_700_000_000_000 + i)


def test_offline_dir_set_appends_every_accepted_event(tmp_path: Path) -> None:
    cfg = ServeConfig(offline_dir=tmp_path / "offline")
    features, sink, _ = _feature_side(cfg)
    sink.apply([_purchase(1), _purchase(2)])
    files = sorted((tmp_path / "offline").rglob("*.parquet"))
    assert len(files) == 1
    frame = pd.read_parquet(files[0])
    assert list(frame["event_id"]) == ["e1", "e2"]
    assert list(frame["event_type"]) == ["PURCHASE", "PURCHASE"]
    # the serving side still received the events: the user's profile knows the purchases
    assert features.get_user_profile("u1", timeout_s=1.0).bought == frozenset({"item1", "item2"})


def test_offline_dir_unset_writes_nothing(tmp_path: Path) -> None:
    features, sink, _ = _feature_side(ServeConfig())
    assert sink is features
