"""Why an item is in a reply; the names match the protobuf enum ``fulcrum.v1.Reason``."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    PERSONALISED = "PERSONALISED"
    EXPLORATION = "EXPLORATION"
    COLD_START = "COLD_START"
    POPULAR = "POPULAR"
    QUERY_MATCH = "QUERY_MATCH"
    NEW_ITEM = "NEW_ITEM"
