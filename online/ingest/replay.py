"""Replay a prepared events table into Kafka, optionally time-compressed (demos, benchmarks).

Events at or after ``start`` are sorted by time and published as ``fulcrum.v1.Event`` protobuf.
By default several events share one Kafka record as a ``fulcrum.v1.EventBatch`` (header
``fulcrum-encoding: event-batch``): Kafka's per-record cost in Python is far larger than a
protobuf encode, so batching is what makes tens of thousands of events per second possible.
Events are grouped by partition (murmur2 of the user id, Kafka's default key partitioning), so one
user's events stay in order. ``one_per_record=True`` sends one Event per record, keyed by user id.

With ``speed`` N > 0 an event stamped t is sent at ``start_wall + (t - t0) / N``; with 0 they go
as fast as the producer allows. Items first seen at or after ``start`` can be announced as
ITEM_UPSERT events at their first-seen time (``items`` frame given).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from fulcrum.core.events import WIRE_NUMBER
from fulcrum.core.schema import EventType
from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER

log = logging.getLogger(__name__)

TS_MS = "ts_ms"
ITEM_TEXT = "item_text"


@dataclass(frozen=True)
class ReplayStats:
    events: int
    records: int
    seconds: float
    first_ts_ms: int
    last_ts_ms: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _epoch_ms(ts: pd.Series) -> np.ndarray:
    return ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(dtype="int64")


def replay_frame(
    events: pd.DataFrame, start: Any, items: pd.DataFrame | None = None, limit: int | None = None
) -> pd.DataFrame:
    """The rows to publish, sorted by time: events at/after ``start`` plus ITEM_UPSERTs for items
    first seen at/after ``start`` (each before the events of its instant). Columns: the event
    columns plus ``item_text`` and ``ts_ms`` (epoch milliseconds)."""
    start = _utc(start)
    ts = pd.to_datetime(events[S.TIMESTAMP], utc=True)
    keep = (ts >= start).to_numpy()
    out = pd.DataFrame(
        {
            c: events[c].to_numpy()[keep]
            for c in (S.EVENT_ID, S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.QUANTITY, S.PRICE, S.SESSION_ID)
        }
    )
    out[S.TIMESTAMP] = ts[keep].reset_index(drop=True)
    out[ITEM_TEXT] = ""
    if items is not None and len(items):
        first = pd.to_datetime(items[S.FIRST_SEEN], utc=True)
        new = items.loc[(first >= start).to_numpy()]
        ups = pd.DataFrame(
            {
                S.EVENT_ID: ("item-upsert-" + new[S.ITEM_ID].astype(str)).to_numpy(),
                S.USER_ID: "",
                S.ITEM_ID: new[S.ITEM_ID].astype(str).to_numpy(),
                S.EVENT_TYPE: EventType.ITEM_UPSERT.value,
                S.QUANTITY: 0.0,
                S.PRICE: new[S.PRICE].astype("float64").fillna(0.0).to_numpy(),
                S.SESSION_ID: "",
                S.TIMESTAMP: first[(first >= start).to_numpy()].reset_index(drop=True),
                ITEM_TEXT: new[S.ITEM_TEXT].astype(str).to_numpy(),
            }
        )
        out = pd.concat([ups, out], ignore_index=True)
    out[S.TIMESTAMP] = pd.to_datetime(out[S.TIMESTAMP], utc=True)
    out[TS_MS] = _epoch_ms(out[S.TIMESTAMP])
    out = out.sort_values(TS_MS, kind="stable").reset_index(drop=True)
    for col in (S.USER_ID, S.ITEM_ID, S.SESSION_ID, S.EVENT_ID):
        out[col] = out[col].fillna("").astype(str)
    if limit is not None:
        out = out.iloc[:limit]
    return out


def _partition_of(keys: list[str], partitions: int) -> np.ndarray:
    if partitions == 1:
        return np.zeros(len(keys), dtype=np.int64)
    from kafka.partitioner.default import murmur2

    return np.array([(murmur2(k.encode()) & 0x7FFFFFFF) % partitions for k in keys], dtype=np.int64)


def publish(
    producer: Any,
    topic: str,
    frame: pd.DataFrame,
    speed: float = 0.0,
    batch_size: int = 500,
    one_per_record: bool = False,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    chunk: int = 20_000,
) -> ReplayStats:
    """Send ``frame`` (from :func:`replay_frame`) to ``topic``; wait for every acknowledgement."""
    from fulcrum.v1 import recommender_pb2 as pb

    if speed < 0:
        raise ValueError(f"speed: must be >= 0, got {speed}")
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    n = len(frame)
    if n == 0:
        return ReplayStats(0, 0, 0.0, 0, 0)
    ids = frame[S.EVENT_ID].tolist()
    users = frame[S.USER_ID].tolist()
    item_ids = frame[S.ITEM_ID].tolist()
    types = [WIRE_NUMBER[EventType(t)] for t in frame[S.EVENT_TYPE].tolist()]
    qty = frame[S.QUANTITY].astype("float64").fillna(0.0).tolist()
    price = frame[S.PRICE].astype("float64").fillna(0.0).tolist()
    sessions = frame[S.SESSION_ID].tolist()
    texts = frame[ITEM_TEXT].tolist()
    ts_ms = frame[TS_MS].to_numpy(dtype="int64")
    keys = [u or i for u, i in zip(users, item_ids, strict=True)]
    partitions = max(1, len(producer.partitions_for(topic) or ()))
    part = _partition_of(keys, partitions)
    due = (ts_ms - ts_ms[0]) / 1000.0 / speed if speed > 0 else None
    batch_headers = [(ENCODING_HEADER, ENCODING_BATCH)]

    started = clock()
    futures = []
    records = 0
    i = 0
    while i < n:
        if due is None:
            j = min(n, i + chunk)
        else:
            elapsed = clock() - started
            j = int(np.searchsorted(due, elapsed, side="right"))
            if j <= i:
                sleep(min(0.5, float(due[i] - elapsed)))  # pacing: wait until the next event is due
                continue
        msgs = [
            pb.Event(
                event_id=ids[k],
                type=types[k],  # type: ignore[arg-type]
                user_id=users[k],
                item_id=item_ids[k],
                quantity=qty[k],
                price=price[k],
                timestamp_ms=int(ts_ms[k]),
                session_id=sessions[k],
                item_text=texts[k],
            )
            for k in range(i, j)
        ]
        if one_per_record:
            for k, msg in zip(range(i, j), msgs, strict=True):
                futures.append(
                    producer.send(
                        topic, key=keys[k].encode(), value=msg.SerializeToString(), partition=int(part[k])
                    )
                )
            records += j - i
        else:
            chunk_parts = part[i:j]
            for p in np.unique(chunk_parts):
                members = [msgs[m] for m in np.flatnonzero(chunk_parts == p)]
                for b in range(0, len(members), batch_size):
                    value = pb.EventBatch(events=members[b : b + batch_size]).SerializeToString()
                    futures.append(producer.send(topic, value=value, partition=int(p), headers=batch_headers))
                    records += 1
        if progress is not None:
            progress(j - i)
        i = j
        if len(futures) > 50_000:
            futures = _settle(producer, futures)
    _settle(producer, futures)
    return ReplayStats(n, records, clock() - started, int(ts_ms[0]), int(ts_ms[-1]))


def _settle(producer: Any, futures: list) -> list:
    """Flush and raise if any record was not acknowledged."""
    producer.flush()
    failed = [f for f in futures if f.failed()]
    if failed:
        raise RuntimeError(f"{len(failed)} Kafka records were not acknowledged: {failed[0].exception}")
    return []
