"""Adapter for the generic input format (docs/data-format.md): any shop's events and items.

Events file (CSV, CSV.gz or parquet) columns: ``user_id``, ``item_id``, ``event_type`` (one of
VIEW, CLICK, ADD_TO_CART, PURCHASE, CANCEL, DISLIKE, IMPRESSION, case-insensitive, or a common
alias such as ``pv``, ``cart``, ``fav``, ``buy``; see offline/data/event_names.py and
``--event-map``), ``timestamp`` (ISO 8601, naive = UTC; or Unix epoch seconds / milliseconds),
optional ``quantity`` (default 1), ``price``, ``session_id``, ``event_id`` (default
``ev-<line>``). Items file: ``item_id`` and any other columns: ``text`` when present, else the
item's text is assembled from its other columns (``item_text_from_columns``), optional ``price``.

Dirty rows are dropped and counted, in this order: missing user/item id, unknown event type, id
longer than the limit, quantity <= 0 or above the limit, negative price, duplicate event id.
Broken structure (unparsable timestamp or number, missing column, bad gzip) raises DataError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.data.csv_reader import LINE_COLUMN, ProgressFn, read_csv_strict
from offline.data.errors import DataError
from offline.data.event_names import resolve_event_types
from offline.data.items import build_items, unsold_items
from offline.data.parsing import parse_numbers, parse_timestamps
from offline.data.report import CleaningReport

SOURCE = "generic"
EVENT_REQUIRED = (S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.TIMESTAMP)
ITEM_REQUIRED = (S.ITEM_ID,)
#: item columns that are never part of the assembled text
_NOT_TEXT = {S.ITEM_ID, S.PRICE, S.FIRST_SEEN, LINE_COLUMN}

RULE_MISSING_ID = "missing user_id or item_id"
RULE_EVENT_TYPE = "unknown event_type"
RULE_LONG_ID = f"id longer than {S.MAX_ID_LENGTH}"
RULE_QUANTITY = f"quantity <= 0 or > {S.MAX_QUANTITY:g}"
RULE_PRICE = "negative price"
RULE_DUPLICATE = "duplicate event_id"


def read_table(path: str | Path, required: tuple[str, ...],
               progress: ProgressFn | None = None) -> pd.DataFrame:
    """CSV (plain or gzip) or parquet by suffix; adds the line (CSV) / row number (parquet)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.is_file():
            raise DataError(str(path), "file not found")
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise DataError(str(path), f"not a readable parquet file ({e})") from e
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise DataError(str(path), f"missing column(s) {missing}; has {list(frame.columns)}")
        frame = frame.reset_index(drop=True)
        frame[LINE_COLUMN] = np.arange(1, len(frame) + 1)  # parquet: 1-based row number
        return frame
    return read_csv_strict(path, required, progress=progress)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[column].astype("string").str.strip().fillna("")


def _optional_number(frame: pd.DataFrame, column: str, path: str, default: float) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(default, index=frame.index, dtype="float64")
    if pd.api.types.is_numeric_dtype(frame[column]):
        values = frame[column].astype("float64")
    else:
        values = parse_numbers(frame[column], column, path, frame[LINE_COLUMN], allow_empty=True)
    return values.fillna(default)


def _load_items(frame: pd.DataFrame, path: str, report: CleaningReport) -> tuple[pd.Series, pd.Series | None]:
    ids = _text(frame, S.ITEM_ID)
    keep = (ids != "") & ~ids.duplicated()
    report.note("items file rows without item_id or duplicated", int((~keep).sum()))
    frame, ids = frame[keep], ids[keep]
    texts = pd.Series(item_text_from_columns(frame).to_numpy(), index=ids.to_numpy(), dtype="string")
    report.note("items file rows with no text at all (id only)", int((texts == "").sum()))
    prices = None
    if S.PRICE in frame.columns:
        values = _optional_number(frame, S.PRICE, str(path), np.nan)
        prices = pd.Series(values.to_numpy(), index=ids.to_numpy(), dtype="float64")
    return texts, prices


def item_text_from_columns(frame: pd.DataFrame) -> pd.Series:
    """Each item's text: its ``text`` column when the file has one, else its other columns
    (not item_id, price or first_seen) in file order as ``"<column> <value>"`` joined by ". ",
    underscores in column names read as spaces, empty values skipped. An items file with only
    ``item_id, category_id`` gives "category id 4762": the encoder then learns from the shared
    category token; a file with ``title, brand`` gives "title Red mug. brand Acme"."""
    if S.ITEM_TEXT in frame.columns:
        return _text(frame, S.ITEM_TEXT)
    columns = [c for c in frame.columns if c not in _NOT_TEXT]
    out = pd.Series("", index=frame.index, dtype="string")
    for c in columns:
        value = _text(frame, c)
        part = (str(c).replace("_", " ").strip() + " " + value).where(value != "", "")
        out = (out + ". " + part).where((out != "") & (part != ""), out + part)
    return out


def load(
    events_path: str | Path,
    items_path: str | Path | None = None,
    progress: ProgressFn | None = None,
    event_map: dict[str, str] | None = None,
    keep_unsold_items: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, CleaningReport]:
    """Read and clean generic events (and items): returns (events without split, items, report).
    ``event_map``: raw event-type name -> schema type, before the built-in aliases.

    ``keep_unsold_items``: items-file rows that no event mentions are written too (new arrivals
    become searchable and recommendable as new items); by default they are counted and dropped.
    """
    name = str(events_path)
    raw = read_table(events_path, EVENT_REQUIRED, progress=progress)
    items_frame = read_table(items_path, ITEM_REQUIRED) if items_path is not None else None
    return clean(raw, name, items_frame, str(items_path), event_map, source=SOURCE,
                 keep_unsold_items=keep_unsold_items)


def clean(
    raw: pd.DataFrame,
    name: str,
    items_frame: pd.DataFrame | None,
    items_name: str = "",
    event_map: dict[str, str] | None = None,
    source: str = SOURCE,
    keep_unsold_items: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, CleaningReport]:
    """The generic cleaning rules over read tables (``raw`` with the events columns and the
    line column of ``read_table``); other adapters map their columns and call it."""
    report = CleaningReport(source=source, path=name, raw_rows=len(raw))
    lines = raw[LINE_COLUMN]
    user = _text(raw, S.USER_ID)
    item = _text(raw, S.ITEM_ID)
    raw_type = _text(raw, S.EVENT_TYPE)
    etype = resolve_event_types(raw_type, event_map)
    renamed = (etype != raw_type.str.upper()) & etype.isin(S.BEHAVIOUR_TYPES)
    for (src, dst), n in pd.DataFrame({"s": raw_type[renamed], "d": etype[renamed]}).value_counts().items():
        report.note(f"event type {src!r} read as {dst}", int(n))
    when = parse_timestamps(raw[S.TIMESTAMP], S.TIMESTAMP, name, lines)
    qty = _optional_number(raw, S.QUANTITY, name, 1.0)
    price = _optional_number(raw, S.PRICE, name, np.nan)
    session = _text(raw, S.SESSION_ID)
    event_id = _text(raw, S.EVENT_ID)
    event_id = event_id.where(event_id != "", "ev-" + lines.astype(str))

    keep = np.ones(len(raw), dtype=bool)
    rules = [
        (RULE_MISSING_ID, ((user == "") | (item == "")).to_numpy()),
        (RULE_EVENT_TYPE, ~etype.isin(S.BEHAVIOUR_TYPES).to_numpy()),
        (RULE_LONG_ID, ((user.str.len() > S.MAX_ID_LENGTH) | (item.str.len() > S.MAX_ID_LENGTH)).to_numpy()),
        (RULE_QUANTITY, ((qty <= 0) | (qty > S.MAX_QUANTITY)).to_numpy()),
        (RULE_PRICE, (price < 0).to_numpy()),
    ]
    for rule, broken in rules:
        hit = keep & broken
        report.drop(rule, int(hit.sum()))
        keep &= ~hit
    duplicate = np.zeros(len(raw), dtype=bool)
    duplicate[np.flatnonzero(keep)] = event_id[keep].duplicated(keep="first").to_numpy()
    report.drop(RULE_DUPLICATE, int(duplicate.sum()))
    keep &= ~duplicate

    idx = np.flatnonzero(keep)
    events = pd.DataFrame({
        S.EVENT_ID: event_id.iloc[idx].astype(str).to_numpy(),
        S.USER_ID: user.iloc[idx].astype(str).to_numpy(),
        S.ITEM_ID: item.iloc[idx].astype(str).to_numpy(),
        S.EVENT_TYPE: etype.iloc[idx].astype(str).to_numpy(),
        S.QUANTITY: qty.iloc[idx].to_numpy(dtype="float64"),
        S.PRICE: price.iloc[idx].to_numpy(dtype="float64"),
        S.TIMESTAMP: when.iloc[idx].to_numpy(),
        S.SESSION_ID: session.iloc[idx].astype(str).to_numpy(),
    })
    events[S.TIMESTAMP] = pd.to_datetime(events[S.TIMESTAMP], utc=True)

    texts, prices = (None, None)
    if items_frame is not None:
        texts, prices = _load_items(items_frame, items_name, report)
        known = events[S.ITEM_ID].isin(texts.index)
        report.note("events whose item is not in the items file (kept, empty text)", int((~known).sum()))
        unsold = int((~texts.index.isin(events[S.ITEM_ID])).sum())
        fate = "kept" if keep_unsold_items else "not written"
        report.note(f"catalogue items without events ({fate})", unsold)
    items = build_items(events, texts=texts, catalogue_prices=prices)
    if keep_unsold_items and texts is not None and len(events):
        items = unsold_items(items, texts, prices, events[S.TIMESTAMP].max())
    return events, items, report
