"""Strict column parsing: the first unparsable value raises a DataError naming its line."""

from __future__ import annotations

import pandas as pd

from offline.data.errors import DataError


def _first_bad(mask: pd.Series, raw: pd.Series, lines: pd.Series | None) -> tuple[int | None, str]:
    pos = int(mask.to_numpy().argmax())
    line = int(lines.iloc[pos]) if lines is not None else None
    return line, str(raw.iloc[pos])


def parse_numbers(raw: pd.Series, column: str, path: str, lines: pd.Series | None = None,
                  allow_empty: bool = False) -> pd.Series:
    """Parse a column of number strings to float64. Empty values are NaN when ``allow_empty``."""
    text = raw.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = values.isna() & ~(allow_empty & (text.fillna("") == ""))
    if bad.any():
        line, value = _first_bad(bad, raw, lines)
        where = f"line {line}" if line is not None else f"row {int(bad.to_numpy().argmax())}"
        raise DataError(path, f"column {column!r}: {value!r} is not a number ({where})", line=line)
    return values


def parse_timestamps(raw: pd.Series, column: str, path: str, lines: pd.Series | None = None,
                     fmt: str | None = None) -> pd.Series:
    """Parse timestamps to ``datetime64[ns, UTC]``; naive values are taken as UTC.

    ``fmt`` is a strptime format (fast path for a known layout); without it ISO 8601 is expected,
    or Unix epoch time: a column of whole numbers of 9 to 14 digits (numeric, or digit strings;
    fewer digits would be before 1973 and may be a compact date) is read as epoch seconds, or
    milliseconds when its values have 12 or more digits. Already-parsed datetime
    columns (parquet) pass through, converted to UTC.
    """
    epoch = _epoch_unit(raw)
    if epoch is not None:  # Unix epoch seconds / milliseconds (numbers or digit strings)
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna()
        if bad.any():
            line, value = _first_bad(bad, raw, lines)
            raise DataError(path, f"column {column!r}: {value!r} is not a Unix time", line=line)
        return pd.to_datetime(values.astype("int64"), unit=epoch, utc=True).astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = raw if getattr(raw.dt, "tz", None) is not None else raw.dt.tz_localize("UTC")
        ts = ts.dt.tz_convert("UTC")
        bad = ts.isna()
    else:
        text = raw.astype("string").str.strip()
        try:
            ts = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
        except (ValueError, TypeError) as e:  # mixed offsets and the like
            raise DataError(path, f"column {column!r}: unparsable timestamps ({e})") from e
        bad = ts.isna()
    if bad.any():
        line, value = _first_bad(bad, raw, lines)
        expected = fmt or "ISO 8601"
        raise DataError(path, f"column {column!r}: {value!r} is not a date ({expected})", line=line)
    return ts.astype("datetime64[ns, UTC]")


def _epoch_unit(raw: pd.Series) -> str | None:
    """"s" or "ms" when ``raw`` holds whole-number epoch times, else None."""
    if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw) or len(raw) == 0:
        return None
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.dropna()
        if len(values) == 0 or not (values == values.round()).all() or float(values.min()) < 1e8:
            return None
        biggest = float(values.abs().max())
    else:
        text = raw.astype("string").str.strip()
        if not text.str.fullmatch(r"\d{9,14}").fillna(False).all():
            return None
        biggest = float(text.str.len().max())
        return "ms" if biggest >= 12 else "s"
    return "ms" if biggest >= 1e11 else "s"
