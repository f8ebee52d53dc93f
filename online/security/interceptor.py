"""``AuthInterceptor``: the role check in front of every RPC (an async server interceptor).

For each method it looks up the guard once (``roles.access_of``) and caches the wrapped handler
(the per-call cost is a dict lookup, a sha256 and, with mutual TLS, reading the peer's auth
context). Open methods (health) pass through unwrapped. A refused call is aborted with the code
``error_mapping.to_status`` gives ``Unauthenticated`` / ``PermissionDenied``; the log names the
method, the peer and the principal, never a credential. Install it inside ``ObservedInterceptor``
(after it in the list) so refused calls are counted by code like any other.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

import grpc
from prometheus_client import Counter

from fulcrum.core.errors import PermissionDenied, Unauthenticated
from online.security.authenticator import Authenticator
from online.security.roles import Access, access_of
from online.server.error_mapping import to_status

log = logging.getLogger(__name__)

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]

#: refusals by method (only methods the server implements) and code (two values)
DENIED = Counter("fulcrum_auth_denied_total", "Calls refused by the auth interceptor", ["method", "code"])


def _guard(authenticator: Authenticator, method: str, access: Access, role: str | None):
    short = method.rsplit("/", 1)[-1]

    async def check(context) -> None:
        try:
            if access is Access.DENIED:
                raise PermissionDenied(f"{method}: no role grants this method")
            auth_context = context.auth_context() if authenticator.uses_certificates else None
            principal = authenticator.authenticate(context.invocation_metadata(), auth_context)
            if access is Access.ROLE and role not in principal.roles:
                raise PermissionDenied(f"{principal.name} does not hold the role '{role}' needed by {short}")
            if access is Access.ANY_ROLE and not principal.roles:
                raise PermissionDenied(f"{principal.name} holds no role")
        except (Unauthenticated, PermissionDenied) as e:
            code, message = to_status(e)
            DENIED.labels(short, code.name).inc()
            log.info("%s refused for peer %s: %s", short, context.peer(), message)
            await context.abort(code, message)

    return check


def _wrap(handler: grpc.RpcMethodHandler, check) -> grpc.RpcMethodHandler:
    def unary(behaviour):
        async def call(request, context):
            await check(context)
            return await behaviour(request, context)

        return call

    def streaming(behaviour):
        async def call(request, context):
            await check(context)
            result = behaviour(request, context)
            if inspect.isasyncgen(result):
                async for item in result:
                    yield item
            else:
                await result

        return call

    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler, unary),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, unary),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, streaming),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, streaming),
    )
    for attr, make, wrapper in kinds:
        behaviour = getattr(handler, attr)
        if behaviour is not None:
            return make(
                wrapper(behaviour),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(self, continuation: Continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None:
            return None
        cached = self._cache.get(details.method)
        if cached is None or cached[0] is not handler:
            access, role = access_of(details.method)
            wrapped = (
                handler
                if access is Access.OPEN
                else _wrap(handler, _guard(self.authenticator, details.method, access, role))
            )
            cached = (handler, wrapped)
            self._cache[details.method] = cached
        return cached[1]
