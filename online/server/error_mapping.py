"""The ONE place where domain exceptions become gRPC status codes."""

from __future__ import annotations

import asyncio
import logging

import grpc

from fulcrum.core.errors import (
    BundleInvalid,
    ConfigError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from online.server.request_id import REQUEST_ID

log = logging.getLogger(__name__)


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """(code, message) for an exception; unexpected ones are logged with their traceback."""
    if isinstance(exc, InvalidArgument):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED, str(exc)
    if isinstance(exc, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, str(exc)
    if isinstance(exc, ResourceExhausted):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, BundleInvalid | ConfigError):
        return grpc.StatusCode.FAILED_PRECONDITION, f"bundle refused, still serving the previous one: {exc}"
    if isinstance(exc, Unavailable):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, DeadlineExceeded | asyncio.TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
    log.error("internal error in request %s", REQUEST_ID.get(), exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {REQUEST_ID.get()})"
