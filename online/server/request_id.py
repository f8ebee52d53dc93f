"""The request id: from the caller's ``x-request-id`` metadata or generated, kept in a contextvar."""

from __future__ import annotations

import contextvars
import logging
import uuid

from fulcrum.core.schema import MAX_ID_LENGTH

HEADER = "x-request-id"
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def from_metadata(metadata) -> str:
    for key, value in metadata or ():
        if key.lower() == HEADER and isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
            return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` so a format string can print ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True
