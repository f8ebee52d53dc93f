"""The server factory: ``create_server(config, bundle_path, feature_client, sink) -> (server, port)``.

The returned ``ServingServer`` wraps the ``grpc.aio`` server: ``start()`` marks the health
service SERVING; ``drain(s)`` marks every service NOT_SERVING and keeps serving ``s`` seconds
(balancers stop picking it); ``stop(grace)`` then stops gRPC with the grace period. Tests bind
port 0 and read the bound port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from fulcrum.core.bundle.loader import LoadedBundle, load_bundle
from fulcrum.core.bundle.sessions import INFERENCE_THREADS
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.bundle.ranker_use import check_ranker_use
from online.config import ServeConfig
from online.inference.model import ModelHolder, ServingModel
from online.ingest.dedupe import IdempotencyStore
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import EventSink, FanoutSink
from online.privacy.forget import server_forgetter
from online.security.limits import server_options
from online.security.listeners import MethodGate, admin_listener, health_listener
from online.security.transport import (
    auth_interceptors,
    bind,
    bundle_public_key,
    check_security,
    effective_security,
)
from online.server import metrics
from online.server.catalogue_follower import CatalogueFollower
from online.server.catalogue_sink import CatalogueSink
from online.server.feature_source import FeatureSource
from online.server.in_flight import InFlight
from online.server.interceptors import ObservedInterceptor
from online.server.loop_lag import LoopLagProbe
from online.server.servicer import RecommenderServicer

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["Recommender"].full_name


class ServingServer:
    def __init__(
        self,
        server: grpc.aio.Server,
        health: HealthServicer,
        holder: ModelHolder,
        servicer: RecommenderServicer,
        executors: list[ThreadPoolExecutor],
        grace_s: float,
        catalogue_sink: CatalogueSink,
        follower: CatalogueFollower | None = None,
        side_servers: list[grpc.aio.Server] | None = None,
    ) -> None:
        self.grpc_server = server
        #: the health-only and admin listeners (online/security/listeners.py), when configured
        self.side_servers = side_servers or []
        self.health_port: int | None = None
        self.admin_port: int | None = None
        self.health = health
        self.holder = holder
        self.servicer = servicer
        #: the EventSink that adds ITEM_UPSERT items to this replica's retrieval index
        self.catalogue_sink = catalogue_sink
        self.follower = follower
        self._executors = executors
        self._grace_s = grace_s
        #: the event-loop lag probe (online/server/loop_lag.py), None when switched off
        self.loop_lag: LoopLagProbe | None = None

    async def start(self) -> None:
        await self.grpc_server.start()
        for side in self.side_servers:
            await side.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
        if self.follower is not None:
            self.follower.start()
        if self.loop_lag is not None:
            self.loop_lag.start()
        log.info("serving bundle %s", self.holder.current.version)

    async def drain(self, drain_s: float) -> None:
        """Shutdown steps 1-2: health NOT_SERVING at once (every service), then keep serving for
        ``drain_s`` so balancers and health-checking clients stop sending calls here."""
        await self.health.enter_graceful_shutdown()
        log.info("health NOT_SERVING; still serving for %.3g s before stopping", drain_s)
        if drain_s > 0:
            await asyncio.sleep(drain_s)

    async def stop(self, grace_s: float | None = None) -> None:
        """Shutdown step 3: health NOT_SERVING (if ``drain`` did not already), open IngestEvents
        streams end UNAVAILABLE, then ``stop(grace)``: in-flight calls finish, new ones get
        UNAVAILABLE."""
        await self.health.enter_graceful_shutdown()
        self.servicer.end_ingest_streams()
        grace = self._grace_s if grace_s is None else grace_s
        await asyncio.gather(self.grpc_server.stop(grace), *(s.stop(grace) for s in self.side_servers))
        if self.loop_lag is not None:
            await self.loop_lag.stop()
        if self.follower is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.follower.stop)
        for ex in self._executors:
            ex.shutdown(wait=False, cancel_futures=True)
        log.info("server stopped")

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()

    def embed_items(self, texts: list[str]) -> np.ndarray:
        """Item-encoder embeddings [N, D] of raw item texts (for the feature sink's item vectors)."""
        return self.holder.current.embed_items(texts)

    def learned_vectors(self, item_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The bundle's learned vectors of those ids it knows (an upsert keeps them by default)."""
        cat = self.holder.current.bundle.catalogue
        return {i: cat.embeddings[cat.index[i]] for i in item_ids if i in cat.index}


async def create_server(
    config: ServeConfig,
    bundle_path: Path | str,
    feature_client: FeatureSource,
    sink: EventSink | None = None,
    *,
    bundle: LoadedBundle | None = None,
    dedupe: IdempotencyStore | None = None,
) -> tuple[ServingServer, int]:
    """Load and verify the bundle, wire everything, bind ``config.host:config.port`` (0 = any)
    with TLS or the explicitly allowed plaintext (``config.security``)."""
    security = effective_security(config.security, config.host)  # loopback development mode
    check_security(security, config.host)  # before the slow bundle load: fail fast on config
    loop = asyncio.get_running_loop()

    public_key = bundle_public_key(security)

    def loader(path: Path) -> LoadedBundle:
        loaded = load_bundle(
            path, config.execution_provider, config.intra_op_threads, config.int8_item_encoder, public_key,
            ann=config.ann_settings(),
        )
        check_ranker_use(loaded.manifest.raw, config.ranking_mode, config.cancel_risk_weight, str(path))
        return loaded

    if bundle is None:
        bundle = await loop.run_in_executor(None, loader, Path(bundle_path))
    else:
        check_ranker_use(bundle.manifest.raw, config.ranking_mode, config.cancel_risk_weight, "bundle")
    inference = ThreadPoolExecutor(max_workers=INFERENCE_THREADS, thread_name_prefix="ort")
    features = ThreadPoolExecutor(max_workers=16, thread_name_prefix="features")

    in_flight = InFlight()

    def factory(b: LoadedBundle) -> ServingModel:
        return ServingModel(
            b,
            inference,
            config.batching.max_batch,
            config.batching.max_wait_ms / 1000.0,
            metrics.observe_batch,
            in_flight.alone,
            replace_learned=config.upsert_replaces_bundle_vectors,
            max_upserted=config.max_upserted_items,
        )

    holder = ModelHolder(factory(bundle), Path(bundle_path), factory, loader)
    catalogue_sink = CatalogueSink(holder)
    sinks: list[EventSink] = [catalogue_sink] + ([sink] if sink is not None else [])
    pipeline = IngestPipeline(FanoutSink(sinks), dedupe=dedupe, door="grpc")
    servicer = RecommenderServicer(config, holder, feature_client, features, pipeline, in_flight)
    servicer.forgetter = server_forgetter(config, feature_client, sinks, pipeline)

    # the auth layer sits inside ObservedInterceptor: refused calls are counted by code too
    interceptors = [ObservedInterceptor(), *auth_interceptors(security)]
    # workers share the port (online/server/workers.py), and so do old and new processes of a
    # rolling restart with reuse_port
    reuse = int(config.workers > 1 or config.reuse_port)
    options = [("grpc.so_reuseport", reuse), *server_options(config.limits)]
    server = grpc.aio.server(
        interceptors=[*interceptors, *([MethodGate(False)] if security.admin_port is not None else [])],
        options=options,
        maximum_concurrent_rpcs=config.limits.max_concurrent_rpcs,
    )
    recommender_pb2_grpc.add_RecommenderServicer_to_server(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    if security.reflection_on:
        reflection.enable_server_reflection(
            (SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
    port = bind(server, security, f"{config.host}:{config.port}")
    side: list[grpc.aio.Server] = []
    health_port = admin_port = None
    if security.health_port is not None:  # plaintext, health only
        probe, health_port = health_listener(health, config.host, security.health_port)
        side.append(probe)
    if security.admin_port is not None:  # admin RPCs only, same TLS and credentials
        admin, admin_port = admin_listener(servicer, interceptors, security, options)
        side.append(admin)
    follower = None
    if config.catalogue_kafka:
        follower = CatalogueFollower(config.catalogue_kafka, config.catalogue_topic, catalogue_sink)
    executors = [inference, features]
    serving = ServingServer(
        server, health, holder, servicer, executors, config.grace_s, catalogue_sink, follower, side
    )
    serving.health_port, serving.admin_port = health_port, admin_port
    if config.loop_lag_probe_ms > 0:
        serving.loop_lag = LoopLagProbe(config.loop_lag_probe_ms / 1000.0)
    return serving, port
