"""Server limits: what one caller can take from the server, and the IngestEvents stream caps.

    limits:
      max_concurrent_rpcs: 256          # more at once: RESOURCE_EXHAUSTED (gRPC's own check)
      max_receive_message_bytes: 4194304
      max_send_message_bytes: 4194304
      ingest_max_stream_events: 100000  # one IngestEvents stream; more: RESOURCE_EXHAUSTED
      ingest_max_streams: 8             # IngestEvents streams at once; one more: RESOURCE_EXHAUSTED
      ingest_stream_timeout_s: 60       # a stream still open after this: RESOURCE_EXHAUSTED
      keepalive_time_s: 60              # server pings idle connections (dead peers are dropped)
      keepalive_timeout_s: 20
      max_connection_idle_s: 300
      max_connection_age_s: 1800        # connections are recycled (load re-balances after scale-out)
      max_connection_age_grace_s: 30

An IngestEvents stream cut by a cap has had its events up to that point applied (the reply is the
error, not a summary); ingestion is idempotent on ``event_id``, so the client resends the stream,
or the rest of it, in shorter streams. ``FULCRUM_LIMITS_<FIELD>`` overrides each field.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict, Field

from fulcrum.core.errors import ResourceExhausted

#: the largest MMR candidate pool a request may cause: its pairwise cosines are pool^2 float64
#: (4096^2 x 8 B = 128 MiB); ServeConfig bounds max_k with it
MAX_MMR_POOL = 4096


class LimitsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrent_rpcs: int = Field(256, ge=1, le=100_000)
    max_receive_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    max_send_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    ingest_max_stream_events: int = Field(100_000, ge=1, le=100_000_000)
    ingest_max_streams: int = Field(8, ge=1, le=10_000)
    ingest_stream_timeout_s: float = Field(60.0, gt=0.0, le=86_400.0)
    keepalive_time_s: float = Field(60.0, ge=1.0, le=86_400.0)
    keepalive_timeout_s: float = Field(20.0, ge=1.0, le=3_600.0)
    max_connection_idle_s: float = Field(300.0, ge=1.0, le=86_400.0)
    max_connection_age_s: float = Field(1800.0, ge=1.0, le=604_800.0)
    max_connection_age_grace_s: float = Field(30.0, ge=0.0, le=3_600.0)


def server_options(limits: LimitsConfig) -> list[tuple[str, int]]:
    """gRPC core channel arguments for ``grpc.aio.server(options=...)``."""

    def ms(seconds: float) -> int:
        return int(seconds * 1000)

    return [
        ("grpc.max_receive_message_length", limits.max_receive_message_bytes),
        ("grpc.max_send_message_length", limits.max_send_message_bytes),
        ("grpc.keepalive_time_ms", ms(limits.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", ms(limits.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),
        # clients may ping at most this often without data (else GOAWAY "too_many_pings")
        ("grpc.http2.min_ping_interval_without_data_ms", ms(min(limits.keepalive_time_s, 10.0))),
        ("grpc.max_connection_idle_ms", ms(limits.max_connection_idle_s)),
        ("grpc.max_connection_age_ms", ms(limits.max_connection_age_s)),
        ("grpc.max_connection_age_grace_ms", ms(limits.max_connection_age_grace_s)),
    ]


class IngestStreams:
    """The IngestEvents caps: concurrent streams, events per stream, time per stream."""

    def __init__(self, limits: LimitsConfig) -> None:
        self.limits = limits
        self.open = 0

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[None]:
        """A slot for one stream, refused at once when all are taken (never queued)."""
        if self.open >= self.limits.ingest_max_streams:
            raise ResourceExhausted(
                "ingest_max_streams", f"{self.open} IngestEvents streams open already; retry later"
            )
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1

    async def events(self, requests) -> AsyncIterator:
        """``requests`` with the per-stream event cap and the server-side deadline applied."""
        limits = self.limits
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.ingest_stream_timeout_s
        it = requests.__aiter__()
        count = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    event = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ResourceExhausted(
                    "ingest_stream_timeout_s",
                    f"stream open longer than {limits.ingest_stream_timeout_s:g} s after {count} events; "
                    "events so far were applied, send the rest in a new stream",
                ) from None
            count += 1
            if count > limits.ingest_max_stream_events:
                raise ResourceExhausted(
                    "ingest_max_stream_events",
                    f"more than {limits.ingest_max_stream_events} events in one stream; events so far "
                    "were applied, send the rest in a new stream",
                )
            yield event
