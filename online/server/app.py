"""The server factory: ``create_server(config, bundle_path, feature_client, sink) -> (server, port)``.

The returned ``ServingServer`` wraps the ``grpc.aio`` server: ``start()`` marks the health
service SERVING; ``stop(grace)`` first marks every service NOT_SERVING (load balancers drain),
then stops gRPC with the grace period. Tests bind port 0 and read the bound port.
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

from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.bundle.loader import LoadedBundle, load_bundle
from online.bundle.sessions import INFERENCE_THREADS
from online.config import ServeConfig
from online.inference.model import ModelHolder, ServingModel
from online.ingest.dedupe import IdempotencyStore
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import EventSink, FanoutSink
from online.privacy.forget import server_forgetter
from online.security.limits import server_options
from online.security.transport import auth_interceptors, bind, bundle_public_key, check_security
from online.server import metrics
from online.server.catalogue_follower import CatalogueFollower
from online.server.catalogue_sink import CatalogueSink
from online.server.feature_source import FeatureSource
from online.server.in_flight import InFlight
from online.server.interceptors import ObservedInterceptor
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
        probe_server: grpc.aio.Server | None = None,
    ) -> None:
        self.grpc_server = server
        #: the plaintext health-only listener (security.health_port), or None
        self.probe_server = probe_server
        self.health_port: int | None = None
        self.health = health
        self.holder = holder
        self.servicer = servicer
        #: the EventSink that adds ITEM_UPSERT items to this replica's retrieval index
        self.catalogue_sink = catalogue_sink
        self.follower = follower
        self._executors = executors
        self._grace_s = grace_s

    async def start(self) -> None:
        await self.grpc_server.start()
        if self.probe_server is not None:
            await self.probe_server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
        if self.follower is not None:
            self.follower.start()
        log.info("serving bundle %s", self.holder.current.version)

    async def stop(self, grace_s: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.grpc_server.stop(self._grace_s if grace_s is None else grace_s)
        if self.probe_server is not None:
            await self.probe_server.stop(0)
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
    security = config.security
    check_security(security, config.host)  # before the slow bundle load: fail fast on config
    loop = asyncio.get_running_loop()

    public_key = bundle_public_key(security)

    def loader(path: Path) -> LoadedBundle:
        return load_bundle(
            path, config.execution_provider, config.intra_op_threads, config.int8_item_encoder, public_key
        )

    if bundle is None:
        bundle = await loop.run_in_executor(None, loader, Path(bundle_path))
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
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[("grpc.so_reuseport", 0), *server_options(config.limits)],
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
    probe_server, health_port = None, None
    if security.health_port is not None:
        # health only, no credential, plaintext: nothing else is registered on this server
        probe_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(health, probe_server)
        health_port = probe_server.add_insecure_port(f"{config.host}:{security.health_port}")
        if health_port == 0:
            raise OSError(f"security.health_port: could not bind {config.host}:{security.health_port}")
    follower = None
    if config.catalogue_kafka:
        follower = CatalogueFollower(config.catalogue_kafka, config.catalogue_topic, catalogue_sink)
    serving = ServingServer(
        server, health, holder, servicer, [inference, features], config.grace_s, catalogue_sink, follower,
        probe_server,
    )
    serving.health_port = health_port
    return serving, port
