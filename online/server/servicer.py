"""The ``fulcrum.v1.Recommender`` servicer: protobuf in, validated query, pipeline, protobuf out.

No status codes here: domain exceptions propagate to ``ObservedInterceptor``, which maps them
in one place (``error_mapping``). Client deadlines bound the whole call and the feature read.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from google.protobuf.message import DecodeError

from fulcrum.core.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable
from fulcrum.core.rerank.reasons import Reason
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.bundle.versions import resolve_version
from online.config import ServeConfig
from online.inference.model import ModelHolder
from online.privacy.forget import Forgetter
from online.security.limits import IngestStreams
from online.server import metrics, validation
from online.server.feature_source import FeatureSource
from online.server.in_flight import InFlight
from online.server.process_tuning import refreeze_heap
from online.server.profile_rows import ProfileRowsCache
from online.server.recommend import recommend
from online.server.requests import Reply
from online.server.retire import retire
from online.server.search import search
from online.server.user_vectors import UserVectorCache

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 30.0
#: ModelInfo.api_version: the contract this server was built from (the proto's package)
API_VERSION = pb.DESCRIPTOR.package
MAX_REJECTIONS = 100
INGEST_CHUNK = 512


def _budget(context) -> float:
    remaining = context.time_remaining()
    return DEFAULT_BUDGET_S if remaining is None else max(float(remaining), 0.0)


async def _within(coro, budget_s: float):
    # asyncio.timeout, not wait_for: wait_for (Python 3.11) wraps the coroutine in a new Task,
    # an extra task and loop iteration on every call
    try:
        async with asyncio.timeout(budget_s):
            return await coro
    except TimeoutError as e:
        raise DeadlineExceeded("deadline exceeded") from e


#: protobuf enum number of each Reason, looked up once (not per item per reply)
_REASON_NUMBER = {r: pb.Reason.Value(r.value) for r in Reason}


def server_version() -> str:
    """ModelInfo.server_version: the installed fulcrum release, "" from an uninstalled source tree."""
    try:
        return importlib.metadata.version("fulcrum")
    except importlib.metadata.PackageNotFoundError:
        return ""


#: read once: the installed release does not change while the process runs
SERVER_VERSION = server_version()


def _reply(reply: Reply, message):
    # items added in place: passing ScoredItem messages to the constructor copies each one
    out = message(
        bundle_version=reply.bundle_version,
        degraded=reply.degraded,
        degraded_reason=reply.degraded_reason,
    )
    add = out.items.add
    for s in reply.items:
        add(item_id=s.item_id, score=s.score, reason=_REASON_NUMBER[s.reason])
    return out


class RecommenderServicer(recommender_pb2_grpc.RecommenderServicer):
    def __init__(
        self,
        config: ServeConfig,
        holder: ModelHolder,
        features: FeatureSource,
        feature_executor: Executor,
        pipeline,
        in_flight: InFlight | None = None,
    ) -> None:
        self.config = config
        self.holder = holder
        self.features = features
        self.feature_executor = feature_executor
        self.pipeline = pipeline
        self.in_flight = in_flight or InFlight()
        self._metrics_json: tuple[Callable[[], object], str] = (lambda: None, "")
        self.ingest_streams = IngestStreams(config.limits)
        #: set by create_server (online/privacy/forget.py); None: ForgetUser is UNAVAILABLE
        self.forgetter: Forgetter | None = None
        self._forget_lock = asyncio.Lock()
        #: Recommend's per-user derived rows, per stored row and catalogue snapshot
        self.profile_rows = ProfileRowsCache()
        #: the user tower's output per stored row + session, reused for user_vector_reuse_ms
        self.user_vectors = UserVectorCache(config.user_vector_reuse_ms / 1000.0)
        #: set on shutdown: open IngestEvents streams end UNAVAILABLE (end_ingest_streams)
        self._shutting_down = False
        #: IngestEvents handler tasks while they wait for the client's next event
        self._ingest_waiting: set[asyncio.Task] = set()

    def end_ingest_streams(self) -> None:
        """Shutdown: every open IngestEvents stream stops reading, applies what it received and
        ends UNAVAILABLE naming that count (retryable; resending is safe, ids are de-duplicated).
        Only a handler waiting for the client's next event is interrupted, never one applying a
        chunk; the others stop before reading their next event."""
        self._shutting_down = True
        for task in list(self._ingest_waiting):
            task.cancel()

    async def Recommend(self, request, context):
        query = validation.recommend_query(request, self.config)
        budget = _budget(context)
        model = self.holder.current
        with self.in_flight:
            reply = await _within(
                recommend(
                    model,
                    self.features,
                    self.feature_executor,
                    self.config,
                    query,
                    budget,
                    self.profile_rows,
                    self.user_vectors,
                ),
                budget,
            )
        return _reply(reply, pb.RecommendResponse)

    async def Search(self, request, context):
        query = validation.search_query(request, self.config)
        budget = _budget(context)
        model = self.holder.current
        with self.in_flight:
            reply = await _within(
                search(model, self.features, self.feature_executor, self.config, query, budget), budget
            )
        return _reply(reply, pb.SearchResponse)

    async def IngestEvents(self, request_iterator, context):
        """Feed the shared ingest pipeline in chunks; the summary counts every event.

        Bad events are rejected one by one with their reasons (a mixed stream succeeds); a
        stream in which every event was rejected is answered INVALID_ARGUMENT naming the field.
        """
        loop = asyncio.get_running_loop()
        accepted = duplicates = 0
        rejections: list[pb.Rejection] = []
        rejected = 0
        chunk: list = []

        async def flush() -> None:
            nonlocal accepted, duplicates, rejected
            if not chunk:
                return
            result = await loop.run_in_executor(None, self.pipeline.process, list(chunk))
            chunk.clear()
            accepted += result.accepted
            duplicates += result.duplicates
            rejected += len(result.rejected)
            for r in result.rejected:
                if len(rejections) < MAX_REJECTIONS:
                    rejections.append(pb.Rejection(event_id=r.event_id, reason=r.reason))

        received = 0
        async with self.ingest_streams.stream():  # caps: streams, events, time (limits.py)
            events = self.ingest_streams.events(request_iterator)
            task = asyncio.current_task()
            try:
                while not self._shutting_down:
                    self._ingest_waiting.add(task)
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError:
                        if not self._shutting_down:
                            raise  # the client went away or grpc ended the call
                        task.uncancel()  # end_ingest_streams interrupted the wait
                        continue  # the loop ends into its shutdown branch
                    finally:
                        self._ingest_waiting.discard(task)
                    received += 1
                    chunk.append(event)
                    if len(chunk) >= INGEST_CHUNK:
                        await flush()
                else:  # shutting down: what was received is applied, the caller resends the rest
                    await flush()
                    raise Unavailable(
                        f"server shutting down: the first {received} events of this stream were "
                        "processed; send the rest to another server (resending is safe: event ids "
                        "are de-duplicated)"
                    )
            except ResourceExhausted:
                await flush()  # what the caller was told: every event before the cap is applied
                raise
            except DecodeError as e:  # grpc decodes each message as the loop asks for it
                await flush()
                raise InvalidArgument(
                    "events",
                    f"message {received + 1} of the stream is not a fulcrum.v1.Event protobuf; "
                    f"the {received} before it were processed "
                    "(resending them is safe: event ids are de-duplicated)",
                ) from e
            await flush()
        if rejected and not accepted and not duplicates:
            # nothing usable in the whole stream: a caller mistake, named like any bad input
            first = rejections[0] if rejections else None
            field = (first.reason.split(":", 1)[0] if first else "events") or "events"
            raise InvalidArgument(
                field, f"all {rejected} events rejected; first: {first.reason if first else ''}"
            )
        return pb.IngestSummary(
            accepted=accepted, rejected=rejected, duplicates=duplicates, rejections=rejections
        )

    async def GetModelInfo(self, request, context):
        model = self.holder.current
        manifest = model.bundle.manifest
        if self._metrics_json[0]() is not model:  # a bundle's metrics never change: dump them once
            # a weak reference: a replaced model is not kept alive by its cached metrics
            self._metrics_json = (
                weakref.ref(model),
                json.dumps(manifest.metrics, sort_keys=True, default=str),
            )
        return pb.ModelInfo(
            bundle_version=model.version,
            bundle_path=str(manifest.path),
            execution_provider=model.bundle.provider,
            created_at=manifest.created_at,
            metrics_json=self._metrics_json[1],
            catalogue_size=len(model.catalogue.current),
            api_version=API_VERSION,
            server_version=SERVER_VERSION,
        )

    async def ForgetUser(self, request, context):
        """Erase the user from every store this server reaches (online/privacy/forget.py)."""
        if self.forgetter is None:
            raise Unavailable("ForgetUser is not wired on this server")
        loop = asyncio.get_running_loop()
        async with self._forget_lock:  # one erasure at a time: they rewrite the same files
            report = await loop.run_in_executor(None, self.forgetter.forget, request.user_id)
        self.profile_rows.forget_user(request.user_id.strip())
        self.user_vectors.forget_user(request.user_id.strip())
        metrics.FORGOTTEN.inc()
        return pb.ForgetUserResponse(
            offline_events=report.offline_events,
            online_entries=report.online_entries,
            idempotency_keys=report.idempotency_keys,
            batch_rows=report.batch_rows,
        )

    def _reload_target(self, request) -> Path | None:
        if request.bundle_path:
            raise InvalidArgument(
                "bundle_path", "paths are not accepted; name a published version in 'version'"
            )
        if not request.version:
            return None
        if self.config.bundles_root is None:
            raise InvalidArgument(
                "version", "this server has no bundles_root configured; send an empty request to "
                "reload the bundle it started with"
            )
        return resolve_version(self.config.bundles_root, request.version)

    async def ReloadModel(self, request, context):
        """Load a published version by name (``version``, under ``bundles_root``) or, with an
        empty request, the bundle the server started with; never an arbitrary path."""
        # the serving model is held here across the swap, so its last reference is not dropped
        # on the event loop: retire() frees it in a thread, a piece at a time (retire.py)
        replaced = [self.holder.current]
        try:
            target = self._reload_target(request)
            new, previous = await self.holder.reload(target, allow_rollback=request.allow_rollback)
        except Exception:
            metrics.RELOADS.labels("refused").inc()
            log.warning(
                "reload of %s refused; still serving %s",
                request.version or self.holder.start_path,
                self.holder.current.version,
                exc_info=True,
            )
            raise
        metrics.RELOADS.labels("swapped").inc()
        if replaced[0] is not self.holder.current:
            retire(replaced)
        refreeze_heap()  # the new bundle out of the collector's reach, without a full collection
        return pb.ReloadModelResponse(bundle_version=new, previous_version=previous)
