"""Domain exceptions of the online side.

They carry no gRPC import: the one mapping to status codes lives in
``online/server/error_mapping.py``. Raise the most specific one, ``raise ... from e``.
"""

from __future__ import annotations


class OnlineError(Exception):
    """Base class of every domain error raised while serving."""


class InvalidArgument(OnlineError):
    """A request field is invalid; ``field`` names it (mapped to INVALID_ARGUMENT)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(OnlineError):
    """An unknown model, version or bundle path (mapped to NOT_FOUND)."""


class Unavailable(OnlineError):
    """A store, broker or model is unavailable (mapped to UNAVAILABLE)."""


class FeatureStoreUnavailable(Unavailable):
    """The online feature store failed or timed out; callers degrade to popularity."""


class FeatureStoreTimeout(FeatureStoreUnavailable):
    """The online feature store did not answer within its time budget."""


def fallback_reason(exc: FeatureStoreUnavailable) -> str:
    """The ``degraded_reason`` / metric label for a feature-store failure."""
    text = str(exc)
    if isinstance(exc, FeatureStoreTimeout) or "did not answer" in text or "timed out" in text:
        return "feature_store_timeout"
    return "feature_store_unavailable"


class DeadlineExceeded(OnlineError):
    """The client's deadline passed before an answer was ready (mapped to DEADLINE_EXCEEDED)."""


class BundleInvalid(OnlineError):
    """A bundle failed verification (missing file, sha256 mismatch, bad manifest or graph).

    Mapped to FAILED_PRECONDITION on ReloadModel: the serving bundle is kept.
    """


class Unauthenticated(OnlineError):
    """No credential, or one the server does not accept (mapped to UNAUTHENTICATED)."""


class PermissionDenied(OnlineError):
    """A known caller without the role the method needs (mapped to PERMISSION_DENIED)."""


class ResourceExhausted(OnlineError):
    """A server limit was reached (mapped to RESOURCE_EXHAUSTED); ``limit`` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(f"{limit}: {message}")
        self.limit = limit


class ConfigError(OnlineError, ValueError):
    """The serving configuration is invalid; the message names the field and allowed values."""
