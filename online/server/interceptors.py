"""The server interceptor: request id, metrics and error mapping around every unary response.

``ObservedInterceptor`` wraps each unary-response method once (the wrapper is cached per
handler object, so the per-call cost is a dict lookup) in one coroutine that:

- puts the request id (the caller's ``x-request-id`` metadata, else a fresh one) in the
  contextvar and echoes it in trailing metadata;
- times the call with perf_counter and records it by method and final status code;
- turns domain exceptions into status codes through ``error_mapping.to_status``.

It used to be two interceptors (request id, then observation); each ``grpc.aio`` interceptor
layer costs an extra ``intercept_service`` await and an extra wrapper coroutine per call,
measured at ~40 us each on the 2-core reference machine (GetModelInfo round trip 0.47 ms with
both, 0.33 ms with none), so the two jobs share one layer. Streaming-response methods (health
Watch, reflection) pass through untouched.
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


def observed(method: str) -> Callable:
    """The wrapper factory for one method (``method`` is its short name, e.g. ``Recommend``)."""
    ok = metrics.LATENCY.labels(method, grpc.StatusCode.OK.name)  # the common case, resolved once

    def wrap(behaviour):
        async def call(request, context):
            started = time.perf_counter()
            request_id = from_metadata(context.invocation_metadata())
            REQUEST_ID.set(request_id)
            context.set_trailing_metadata(((HEADER, request_id),))
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
                child = ok if code is grpc.StatusCode.OK else metrics.LATENCY.labels(method, code.name)
                child.observe(elapsed)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s %s in %.1f ms", method, code.name, elapsed * 1000)

        return call

    return wrap


class ObservedInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        cached = self._cache.get(details.method)
        if cached is None or cached[0] is not handler:
            cached = (handler, _rewrap(handler, observed(details.method.rsplit("/", 1)[-1])))
            self._cache[details.method] = cached
        return cached[1]
