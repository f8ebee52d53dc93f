"""The generic search-log format, read strictly.

CSV (plain or gzip) or parquet with columns ``query``, ``item_id`` (the item clicked or bought
after the query), ``timestamp`` (ISO 8601; no zone = UTC) and optionally ``action`` (any label,
e.g. click / purchase; kept for reporting). Ids are strings. Rows with an empty query or an
item the bundle does not know are dropped and counted; an unparsable timestamp or a missing
column is an error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REQUIRED = ("query", "item_id", "timestamp")


class SearchLogError(ValueError):
    pass


@dataclass(frozen=True)
class SearchLog:
    queries: list[str]
    rows: list[int]  # catalogue row of each clicked/bought item
    times: pd.Series
    dropped_empty: int
    dropped_unknown_item: int


def read_search_log(path: Path, index: dict[str, int]) -> SearchLog:
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path).astype({"item_id": str})
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as e:
        raise SearchLogError(f"{path}: file not found") from e
    except Exception as e:  # parser and decompression errors have many types
        raise SearchLogError(f"{path}: not a readable search log ({e})") from e
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise SearchLogError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    try:
        times = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        raise SearchLogError(f"{path}: timestamp: {e}") from e
    query = frame["query"].astype(str).str.strip()
    item = frame["item_id"].astype(str).str.strip()
    empty = query == ""
    known = item.isin(list(index))
    keep = ~empty & known
    order = times[keep].sort_values(kind="stable").index
    return SearchLog(
        queries=query[order].tolist(),
        rows=[index[i] for i in item[order]],
        times=times[order].reset_index(drop=True),
        dropped_empty=int(empty.sum()),
        dropped_unknown_item=int((~empty & ~known).sum()),
    )
