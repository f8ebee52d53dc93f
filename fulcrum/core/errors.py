"""Fulcrum's one error hierarchy: every domain exception derives from ``DomainError``.

They carry no gRPC import: the one mapping to status codes lives in
``online/server/error_mapping.py``. Raise the most specific one, ``raise ... from e``. The offline
side's stage errors (``offline.stage_error.StageError``, ``offline.export.errors.ExportError``,
``offline.data.errors.DataError``) derive from ``DomainError`` too, and there is one
``ConfigError`` for every configuration (serving, training, ranking head).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every Fulcrum domain error (serving, ingest, training, export)."""


class InvalidArgument(DomainError):
    """A request field is invalid; ``field`` names it (mapped to INVALID_ARGUMENT)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    """An unknown model, version or bundle path (mapped to NOT_FOUND)."""


class Unavailable(DomainError):
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


class DeadlineExceeded(DomainError):
    """The client's deadline passed before an answer was ready (mapped to DEADLINE_EXCEEDED)."""


class BundleInvalid(DomainError):
    """A bundle failed verification (missing file, sha256 mismatch, bad manifest or graph).

    Mapped to FAILED_PRECONDITION on ReloadModel: the serving bundle is kept.
    """


class Unauthenticated(DomainError):
    """No credential, or one the server does not accept (mapped to UNAUTHENTICATED)."""


class PermissionDenied(DomainError):
    """A known caller without the role the method needs (mapped to PERMISSION_DENIED)."""


class ResourceExhausted(DomainError):
    """A server limit was reached (mapped to RESOURCE_EXHAUSTED); ``limit`` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(f"{limit}: {message}")
        self.limit = limit


class ConfigError(DomainError, ValueError):
    """A configuration (serving, training, ranking head) is invalid; the message names the field
    and the allowed values."""
