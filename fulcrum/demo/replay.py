"""The replayed period: which events, and two ways in (gRPC IngestEvents, or Kafka).

``replay_slice`` is the same frame `fulcrum replay` publishes (online.ingest.replay.replay_frame:
events from the cut-off on, sorted by time, with ITEM_UPSERTs for items first seen then), cut to
``limit`` events, so both doors replay exactly the same events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class IngestStats:
    events: int
    accepted: int
    rejected: int
    duplicates: int
    seconds: float
    first_reasons: tuple[str, ...] = ()

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def replay_slice(data: Path, start, limit: int | None) -> pd.DataFrame:
    from fulcrum.core import schema as S
    from online.ingest.replay import replay_frame

    events = pd.read_parquet(data / S.EVENTS_FILE)
    items_path = data / S.ITEMS_FILE
    items = pd.read_parquet(items_path) if items_path.is_file() else None
    return replay_frame(events, start, items=items, limit=limit)


def _messages(frame: pd.DataFrame) -> list:
    from fulcrum.core import schema as S
    from fulcrum.core.events import WIRE_NUMBER
    from fulcrum.core.schema import EventType
    from fulcrum.v1 import recommender_pb2 as pb
    from online.ingest.replay import ITEM_TEXT, TS_MS

    cols = {c: frame[c].tolist() for c in (S.EVENT_ID, S.USER_ID, S.ITEM_ID, S.SESSION_ID, ITEM_TEXT)}
    qty = frame[S.QUANTITY].astype("float64").fillna(0.0).tolist()
    price = frame[S.PRICE].astype("float64").fillna(0.0).tolist()
    types = [WIRE_NUMBER[EventType(t)] for t in frame[S.EVENT_TYPE].tolist()]
    ts = frame[TS_MS].astype("int64").tolist()
    return [
        pb.Event(
            event_id=cols[S.EVENT_ID][k],
            type=types[k],
            user_id=cols[S.USER_ID][k],
            item_id=cols[S.ITEM_ID][k],
            quantity=qty[k],
            price=price[k],
            timestamp_ms=ts[k],
            session_id=cols[S.SESSION_ID][k],
            item_text=cols[ITEM_TEXT][k],
        )
        for k in range(len(frame))
    ]


def ingest_grpc(
    stub,
    frame: pd.DataFrame,
    chunk: int = 5_000,
    timeout_s: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> IngestStats:
    """Stream ``frame`` through IngestEvents, one client stream per ``chunk`` events."""
    messages = _messages(frame)
    accepted = rejected = duplicates = 0
    reasons: list[str] = []
    started = time.perf_counter()
    for s in range(0, len(messages), chunk):
        part = messages[s : s + chunk]

        def stream(part=part) -> Iterator:
            yield from part

        summary = stub.IngestEvents(stream(), timeout=timeout_s)
        accepted += summary.accepted
        rejected += summary.rejected
        duplicates += summary.duplicates
        reasons += [f"{r.event_id}: {r.reason}" for r in summary.rejections][: max(0, 5 - len(reasons))]
        if progress is not None:
            progress(len(part))
    return IngestStats(
        len(messages), accepted, rejected, duplicates, time.perf_counter() - started, tuple(reasons)
    )


def purchases_by_user(frame: pd.DataFrame) -> dict[str, list[str]]:
    """user id -> items purchased in the slice, in order, without repeats."""
    from fulcrum.core import schema as S

    p = frame[(frame[S.EVENT_TYPE] == S.EventType.PURCHASE.value) & (frame[S.USER_ID] != "")]
    out: dict[str, list[str]] = {}
    for user, item in zip(p[S.USER_ID].tolist(), p[S.ITEM_ID].tolist(), strict=True):
        seen = out.setdefault(user, [])
        if item not in seen:
            seen.append(item)
    return out
