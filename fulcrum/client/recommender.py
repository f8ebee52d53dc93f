"""``FulcrumClient``: the Python client of ``fulcrum.v1.Recommender``.

One channel per client, configured with the service config of
:mod:`fulcrum.client.service_config` (default deadlines, retries of UNAVAILABLE with backoff);
every failure is raised as a typed :mod:`fulcrum.client.errors` exception::

    with FulcrumClient("localhost:50051") as client:
        reply = client.recommend("u-7", k=10, timeout=0.2)
        for item in reply.items:
            print(item.item_id, item.score)

Requests and replies are the generated ``fulcrum.v1`` messages (fulcrum/v1/recommender_pb2.py),
so every field documented in protos/fulcrum/v1/recommender.proto is at hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import grpc

from fulcrum.client.errors import REQUEST_ID_HEADER, from_rpc_error
from fulcrum.client.service_config import RetryPolicy, service_config_json
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc


class FulcrumClient:
    """A blocking client; thread-safe (gRPC channels and stubs are).

    ``target`` is a gRPC target (``host:port``, ``dns:///host:port``...). ``credentials``:
    ``grpc.ssl_channel_credentials(...)`` for TLS, ``None`` for plaintext. ``token``: a bearer
    token sent as ``authorization: Bearer <token>`` on every call (use it with TLS: over
    plaintext anyone on the path can read it). ``retry`` sets the default deadlines and the
    retry policy; ``channel_options`` are passed to gRPC as they are.
    """

    def __init__(
        self,
        target: str,
        *,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        channel_options: Sequence[tuple[str, object]] = (),
    ) -> None:
        options = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config_json(retry or RetryPolicy())),
            *channel_options,
        ]
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = recommender_pb2_grpc.RecommenderStub(self._channel)
        self._auth = (("authorization", f"Bearer {token}"),) if token else ()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> FulcrumClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None, request_id: str | None):
        metadata = ((REQUEST_ID_HEADER, request_id or uuid.uuid4().hex), *self._auth)
        try:
            return method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from e

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        session_item_ids: Sequence[str] = (),
        exclude_item_ids: Sequence[str] = (),
        options: pb.RecommendOptions | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> pb.RecommendResponse:
        """Top-k items for ``user_id``. ``timeout`` in seconds (None: the service config's)."""
        request = pb.RecommendRequest(
            user_id=user_id,
            k=k,
            session_item_ids=session_item_ids,
            exclude_item_ids=exclude_item_ids,
            options=options,
        )
        return self._call(self._stub.Recommend, request, timeout, request_id)

    def search(
        self,
        query: str,
        k: int,
        *,
        user_id: str = "",
        filters: pb.SearchFilters | None = None,
        options: pb.RecommendOptions | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> pb.SearchResponse:
        request = pb.SearchRequest(query=query, user_id=user_id, k=k, filters=filters, options=options)
        return self._call(self._stub.Search, request, timeout, request_id)

    def ingest_events(
        self, events: Iterable[pb.Event], *, timeout: float | None = None, request_id: str | None = None
    ) -> pb.IngestSummary:
        """Stream ``events``; the summary counts accepted, rejected (with reasons) and duplicates."""
        return self._call(self._stub.IngestEvents, iter(events), timeout, request_id)

    def get_model_info(self, *, timeout: float | None = None, request_id: str | None = None) -> pb.ModelInfo:
        return self._call(self._stub.GetModelInfo, pb.GetModelInfoRequest(), timeout, request_id)

    def reload_model(
        self, bundle_path: str = "", *, timeout: float | None = None, request_id: str | None = None
    ) -> pb.ReloadModelResponse:
        return self._call(
            self._stub.ReloadModel, pb.ReloadModelRequest(bundle_path=bundle_path), timeout, request_id
        )
