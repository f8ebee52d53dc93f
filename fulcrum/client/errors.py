"""Typed errors of the Fulcrum API: one exception class per gRPC status the server documents.

Every RPC failure the client sees becomes a :class:`FulcrumError` subclass, so callers catch what
they can handle (``except InvalidArgumentError as e: e.field``) instead of comparing status codes.
The module has no grpc import: :func:`from_rpc_error` reads any object with ``code()`` and
``details()`` (a ``grpc.RpcError`` from a call) and the trailing metadata when it has it.
"""

from __future__ import annotations

REQUEST_ID_HEADER = "x-request-id"


class FulcrumError(Exception):
    """An RPC failed. ``code`` is the gRPC status name, ``details`` the server's message and
    ``request_id`` the id the server logged the call under ("" when it did not answer)."""

    #: the status this class stands for ("" for the base class)
    CODE = ""
    #: whether sending the same request again later can succeed
    retryable = False

    def __init__(self, code: str, details: str, request_id: str = "") -> None:
        shown = f"{code}: {details}" + (f" (request id {request_id})" if request_id else "")
        super().__init__(shown)
        self.code = code
        self.details = details
        self.request_id = request_id


class InvalidArgumentError(FulcrumError):
    """The request is invalid; ``field`` names the culprit (e.g. ``k``, ``options.diversity``)."""

    CODE = "INVALID_ARGUMENT"

    @property
    def field(self) -> str:
        # the server's message is always "field: why" (fulcrum/core/errors.py InvalidArgument)
        head, sep, _ = self.details.partition(": ")
        return head if sep and " " not in head else ""


class NotFoundError(FulcrumError):
    CODE = "NOT_FOUND"


class FailedPreconditionError(FulcrumError):
    """ReloadModel: the bundle failed verification; the server keeps serving its previous one."""

    CODE = "FAILED_PRECONDITION"


class UnavailableError(FulcrumError):
    """The server or one of its stores is unavailable (retries with backoff were used up)."""

    CODE = "UNAVAILABLE"
    retryable = True


class DeadlineExceededError(FulcrumError):
    CODE = "DEADLINE_EXCEEDED"


class ResourceExhaustedError(FulcrumError):
    CODE = "RESOURCE_EXHAUSTED"


class InternalError(FulcrumError):
    """A server bug: ``request_id`` finds the traceback in the server's log."""

    CODE = "INTERNAL"


class UnauthenticatedError(FulcrumError):
    """The server wants a credential (bearer token or client certificate) the call lacked."""

    CODE = "UNAUTHENTICATED"


class PermissionDeniedError(FulcrumError):
    """The credential's role does not allow this RPC."""

    CODE = "PERMISSION_DENIED"


class UnimplementedError(FulcrumError):
    """The server does not know the RPC (an older server: see docs/api.md, versioning)."""

    CODE = "UNIMPLEMENTED"


_BY_CODE: dict[str, type[FulcrumError]] = {
    cls.CODE: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        FailedPreconditionError,
        UnavailableError,
        DeadlineExceededError,
        ResourceExhaustedError,
        InternalError,
        UnauthenticatedError,
        PermissionDeniedError,
        UnimplementedError,
    )
}


def _request_id(error: object) -> str:
    trailing = getattr(error, "trailing_metadata", None)
    try:
        pairs = trailing() if callable(trailing) else None
    except Exception:  # a channel-level failure has no call to read metadata from
        pairs = None
    for key, value in pairs or ():
        if key.lower() == REQUEST_ID_HEADER:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return ""


def from_rpc_error(error: object) -> FulcrumError:
    """The typed error for a failed call (``grpc.RpcError``); unknown codes give ``FulcrumError``."""
    code = error.code()  # type: ignore[attr-defined]
    name = getattr(code, "name", str(code))
    details = error.details() or ""  # type: ignore[attr-defined]
    cls = _BY_CODE.get(name, FulcrumError)
    return cls(name, details, _request_id(error))
