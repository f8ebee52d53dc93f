"""Feast ``Value`` encodings for the online row writer (online/features/online_write.py): the
protobuf field of each Feast dtype, a per-feature encoder with a bounded memo of repeated values,
and the push frame's timestamp rounding."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Feast dtype name -> (Value field, scalar converter)
SCALARS: dict[str, tuple[str, Any]] = {
    "Int64": ("int64_val", int),
    "Int32": ("int32_val", int),
    "Float64": ("double_val", float),
    "Float32": ("float_val", float),
    "String": ("string_val", str),
    "Bool": ("bool_val", bool),
}
#: Feast dtype name -> (Value field, list message name)
LISTS: dict[str, tuple[str, str]] = {
    "Array(Int64)": ("int64_list_val", "Int64List"),
    "Array(Int32)": ("int32_list_val", "Int32List"),
    "Array(Float64)": ("double_list_val", "DoubleList"),
    "Array(Float32)": ("float_list_val", "FloatList"),
    "Array(String)": ("string_list_val", "StringList"),
    "Array(Bool)": ("bool_list_val", "BoolList"),
}


#: exact types whose encodings are memoised per feature (floats never: -0.0 == 0.0 but differ)
_MEMO_TYPES = (int, bool, str)
#: distinct values memoised per feature before the memo starts afresh
MEMO_SIZE = 4096

#: (Value message, its serialised bytes, the store's form of it: SQLite value_text, Redis RESP
#: bulk string, or None)
Encoded = tuple[Any, bytes, Any]


def micros_of(seconds: float) -> int:
    """Epoch seconds -> integer microseconds (the rounding of the push frame's ``_stamp``)."""
    return int(round(float(seconds) * 1e6))


def timestamp_of(seconds: float) -> datetime:
    """Epoch seconds -> UTC datetime rounded to the microsecond (the push frame's ``_stamp``)."""
    return _EPOCH + timedelta(microseconds=micros_of(seconds))


class FeatureEncoder:
    """One feature's Python value -> ``Value`` message (and the store's form of its bytes).

    ``build`` turns a non-null value into a fresh ``Value``; null (None, or NaN for a scalar) is
    the empty ``Value``. Repeated values of the memoised types, and the empty list, reuse one
    encoding."""

    __slots__ = ("_build", "_is_list", "_memo", "_null", "_empty", "_form")

    def __init__(self, build: Any, is_list: bool, value_type: Any, form_of: Any) -> None:
        self._build, self._is_list, self._form = build, is_list, form_of
        self._memo: dict[Any, Encoded] = {}
        self._null = self._encode(value_type())
        self._empty = self._encode(build([])) if is_list else self._null

    def _encode(self, value: Any) -> Encoded:
        blob = value.SerializeToString()
        return value, blob, self._form(value, blob)

    def _null_or_memo(self, v: Any) -> Encoded | None:
        if v is None:
            return self._null
        if self._is_list:
            return None if len(v) else self._empty
        if isinstance(v, float):
            return self._null if math.isnan(v) else None
        if v.__class__ in _MEMO_TYPES:
            memo = self._memo
            hit = memo.get(v)
            if hit is None:
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                hit = memo[v] = self._encode(self._build(v))
            return hit
        return None

    def value(self, v: Any) -> Any:
        """The ``Value`` message of ``v`` (shared for repeated values: read it, never mutate it)."""
        hit = self._null_or_memo(v)
        return hit[0] if hit is not None else self._build(v)

    def encoded(self, v: Any) -> Encoded:
        """(``Value``, serialised bytes, the store's form of them) of ``v``."""
        hit = self._null_or_memo(v)
        return hit if hit is not None else self._encode(self._build(v))
