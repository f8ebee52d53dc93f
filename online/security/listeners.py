"""The side listeners of a server: a plaintext health-only port, and an admin-only port.

- ``health_listener``: ``security.health_port``, plaintext, the health service and nothing else
  (Kubernetes' native gRPC probes cannot speak TLS).
- ``admin_listener``: ``security.admin_port`` on ``security.admin_host`` (default 127.0.0.1): the
  admin RPCs (ReloadModel, ForgetUser) are served there only, with the same TLS and credentials,
  and the main port refuses them (PERMISSION_DENIED naming the admin listener). Operators reach
  it from the pod (``kubectl exec``/port-forward); clients on the network never can.
"""

from __future__ import annotations

import grpc

from fulcrum.v1 import recommender_pb2_grpc
from online.security.config import SecurityConfig
from online.security.roles import ADMIN, METHOD_ROLES

ADMIN_METHODS = frozenset(m for m, role in METHOD_ROLES.items() if role == ADMIN)


def _refuse(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    async def refuse(request, context):
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, message)

    streaming = handler.request_streaming
    make = grpc.stream_unary_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class MethodGate(grpc.aio.ServerInterceptor):
    """Refuse the Recommender methods a listener does not serve (admin ones, or all others)."""

    def __init__(self, admin_only: bool) -> None:
        self.admin_only = admin_only
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or not details.method.startswith("/fulcrum.v1.Recommender/"):
            return handler
        is_admin = details.method in ADMIN_METHODS
        if is_admin == self.admin_only:
            return handler
        refused = self._cache.get(details.method)
        if refused is None:
            message = (
                "served on the admin listener only (security.admin_port)"
                if is_admin
                else "the admin listener serves ReloadModel and ForgetUser only"
            )
            refused = self._cache[details.method] = _refuse(handler, message)
        return refused


def health_listener(health, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    from grpc_health.v1 import health_pb2_grpc

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"security.health_port: could not bind {host}:{port}")
    return server, bound


def admin_listener(servicer, interceptors: list, security: SecurityConfig, options: list):
    """(server, bound port) serving only the admin RPCs, TLS and auth as on the main port."""
    from online.security.transport import bind

    server = grpc.aio.server(interceptors=[*interceptors, MethodGate(admin_only=True)], options=options)
    recommender_pb2_grpc.add_RecommenderServicer_to_server(servicer, server)
    return server, bind(server, security, f"{security.admin_host}:{security.admin_port}")
