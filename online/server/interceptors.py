"""Server interceptors: request id, then metrics + error mapping around every unary response.

``RequestIdInterceptor`` puts the id in the contextvar (the same Context reaches the handler)
and echoes it in trailing metadata. ``ObservedInterceptor`` times each call with perf_counter,
turns domain exceptions into status codes through ``error_mapping.to_status`` and records the
latency by method and final status code. Streaming-response methods (health Watch, reflection)
pass through untouched. Wrapped handlers are built once per method and cached: the per-call
cost is a dict lookup, the contextvar and the timing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from grpc.aio import AbortError

from online.server import metrics
from online.server.error_mapping import to_status
from online.server.request_id import HEADER, REQUEST_ID, from_metadata

log = logging.getLogger(__name__)

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


def _rewrap(handler: grpc.RpcMethodHandler, wrap: Callable) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class _Cached(grpc.aio.ServerInterceptor):
    """Wraps each method's handler once (per handler object) and reuses the wrapper."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def wrap(self, method: str) -> Callable:
        raise NotImplementedError

    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        cached = self._cache.get(details.method)
        if cached is None or cached[0] is not handler:
            cached = (handler, _rewrap(handler, self.wrap(details.method.rsplit("/", 1)[-1])))
            self._cache[details.method] = cached
        return cached[1]


class RequestIdInterceptor(_Cached):
    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails):
        REQUEST_ID.set(from_metadata(details.invocation_metadata))
        return await super().intercept_service(continuation, details)

    def wrap(self, method: str) -> Callable:
        def wrap(behaviour):
            async def call(request, context):
                context.set_trailing_metadata(((HEADER, REQUEST_ID.get()),))
                return await behaviour(request, context)

            return call

        return wrap


class ObservedInterceptor(_Cached):
    def wrap(self, method: str) -> Callable:
        def wrap(behaviour):
            async def call(request, context):
                started = time.perf_counter()
                code = grpc.StatusCode.OK
                try:
                    return await behaviour(request, context)
                except AbortError:
                    aborted = context.code()
                    code = aborted if isinstance(aborted, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
                    raise
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception as e:
                    code, message = to_status(e)
                    log.info("%s -> %s: %s", method, code.name, message)
                    await context.abort(code, message)
                finally:
                    elapsed = time.perf_counter() - started
                    metrics.LATENCY.labels(method, code.name).observe(elapsed)
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("%s %s in %.1f ms", method, code.name, elapsed * 1000)

            return call

        return wrap
