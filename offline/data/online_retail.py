"""Adapter for the UCI "Online Retail" file (the only module that knows its columns and quirks).

Raw columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate (YYYY-MM-DD HH:MM:SS),
UnitPrice, CustomerID (float text, empty for guests), Country.

Cleaning rules, applied in this order; each raw row is charged to the first rule it breaks:

1. ``no CustomerID (guest)`` - guest baskets have no user to learn from.
2. ``cancellation, quantity >= 0`` - a "C" invoice line that does not remove anything.
3. ``quantity <= 0 (not a cancellation)`` - stock adjustments, damages, returns without "C".
4. ``unit price <= 0`` - free samples, write-offs, bad-debt adjustments.
5. ``non-product code`` - postage, fees, discounts, manual lines (see :func:`is_non_product`).
   The OR-temporal protocol counts these as items (its reference figures include them), so by
   default they are only counted (``drop_non_product=False``); pass True to remove them.

Rows left: invoices not starting with "C" -> PURCHASE; "C" invoices -> CANCEL of the same item with
the absolute quantity. Item id = StockCode upper-cased and stripped; user id = int(CustomerID);
session id = InvoiceNo; event id = ``or-<InvoiceNo>-<line>`` (line in the raw file, so stable).
Item text = the most frequent Description of the StockCode over rows with a positive quantity and
price (any customer, guests included), falling back to any row's Description: this resolves the
description variants and keeps junk such as "damaged" or "?" (zero-price rows) out of item text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.data.csv_reader import LINE_COLUMN, ProgressFn, read_csv_strict
from offline.data.errors import DataError
from offline.data.items import build_items, most_frequent_text
from offline.data.parsing import parse_numbers, parse_timestamps
from offline.data.report import CleaningReport

SOURCE = "online-retail"
PROTOCOL = "OR-temporal"
DEFAULT_RAW = Path("data") / "online-retail.csv.gz"
CUTOFF = pd.Timestamp("2011-11-09 00:00:00", tz="UTC")
RAW_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

#: sha256 of the vendored file; the reference figures apply only to exactly this file.
RAW_SHA256 = "b441bbef9c01419707a2bd0a9ceb61ae9a0c8db506f2f3534fa3c8dfee2169a2"
#: Published OR-temporal figures (shared data README) the summary checks against.
REFERENCE = {
    "raw_rows": 541_909,
    "purchase_rows": 397_884,
    "users": 4_338,
    "items": 3_665,
    "warm_test_users": 1_295,
    "cold_test_users": 271,
}

#: Codes that carry a digit but are not products: C2 = carriage.
NON_PRODUCT_CODES = frozenset({"C2"})
#: Gift vouchers (GIFT_0001_10 ...) are money, not products.
NON_PRODUCT_PREFIXES = ("GIFT_",)
_DIGIT = re.compile(r"\d")

RULE_GUEST = "no CustomerID (guest)"
RULE_CANCEL_POSITIVE = "cancellation, quantity >= 0"
RULE_QUANTITY = "quantity <= 0 (not a cancellation)"
RULE_PRICE = "unit price <= 0"
RULE_NON_PRODUCT = "non-product code"


def is_reference_file(path: str | Path) -> bool:
    """True when ``path`` is byte-for-byte the vendored Online Retail file."""
    from fulcrum.core.bundle_format import sha256_file

    return Path(path).is_file() and sha256_file(Path(path)) == RAW_SHA256


def is_non_product(code: str) -> bool:
    """True for codes that are not products: POST, D, M, S, B, DOT, CRUK, PADS, BANK CHARGES,
    AMAZONFEE, DCGSSBOY ... (any code without a digit), plus C2 and GIFT_* vouchers.

    >>> [is_non_product(c) for c in ("POST", "BANK CHARGES", "C2", "85123A", "GIFT_0001_10", "DCGS0003")]
    [True, True, True, False, True, False]
    """
    return (not _DIGIT.search(code)) or code in NON_PRODUCT_CODES or code.startswith(NON_PRODUCT_PREFIXES)


def _user_ids(raw: pd.Series, path: str, lines: pd.Series) -> pd.Series:
    """CustomerID float text ("17850.0") -> "17850"; empty -> <NA>."""
    values = parse_numbers(raw, "CustomerID", path, lines, allow_empty=True)
    whole = values.dropna()
    if not (whole == np.floor(whole)).all():
        bad = values.notna() & (values != np.floor(values))
        pos = int(bad.to_numpy().argmax())
        raise DataError(path, f"column 'CustomerID': {raw.iloc[pos]!r} is not a whole number",
                        line=int(lines.iloc[pos]))
    out = pd.Series(pd.NA, index=raw.index, dtype="string")
    out[values.notna()] = values[values.notna()].astype("int64").astype(str)
    return out


def load(
    path: str | Path = DEFAULT_RAW,
    drop_non_product: bool = False,
    progress: ProgressFn | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, CleaningReport]:
    """Read and clean the raw file: returns (events without the split column, items, report)."""
    stage = on_stage or (lambda _msg: None)
    path = Path(path)
    raw = read_csv_strict(path, RAW_COLUMNS, progress=progress)
    name = str(path)
    lines = raw[LINE_COLUMN]
    report = CleaningReport(source=SOURCE, path=name, raw_rows=len(raw))

    stage("parsing values")
    invoice = raw["InvoiceNo"].astype("string").str.strip()
    code = raw["StockCode"].astype("string").str.strip().str.upper()
    desc = raw["Description"].astype("string").str.strip().str.upper()
    qty = parse_numbers(raw["Quantity"], "Quantity", name, lines)
    price = parse_numbers(raw["UnitPrice"], "UnitPrice", name, lines)
    when = parse_timestamps(raw["InvoiceDate"], "InvoiceDate", name, lines, fmt=DATE_FORMAT)
    user = _user_ids(raw["CustomerID"], name, lines)

    stage("cleaning")
    is_cancel = invoice.str.startswith("C").to_numpy()
    non_product = (~code.str.contains(_DIGIT) | code.isin(NON_PRODUCT_CODES)
                   | code.str.startswith(NON_PRODUCT_PREFIXES)).to_numpy(dtype=bool)  # = is_non_product
    q = qty.to_numpy()
    p = price.to_numpy()
    keep = np.ones(len(raw), dtype=bool)
    rules = [
        (RULE_GUEST, user.isna().to_numpy()),
        (RULE_CANCEL_POSITIVE, is_cancel & (q >= 0)),
        (RULE_QUANTITY, ~is_cancel & (q <= 0)),
        (RULE_PRICE, p <= 0),
    ]
    if drop_non_product:
        rules.append((RULE_NON_PRODUCT, non_product))
    for rule, broken in rules:
        hit = keep & broken
        report.drop(rule, int(hit.sum()))
        keep &= ~hit
    # Independent counts over the raw file (a row may match several), for the record.
    report.note("raw rows with quantity <= 0", int((q <= 0).sum()))
    report.note("raw rows with unit price <= 0", int((p <= 0).sum()))
    report.note("raw rows with a non-product code", int(non_product.sum()))
    report.note("raw rows without a description", int((desc.fillna("") == "").sum()))
    if not drop_non_product:
        report.note("non-product code rows kept (OR-temporal counts them)", int((keep & non_product).sum()))
    report.note("cancellation rows -> CANCEL", int((keep & is_cancel).sum()))
    report.note("cancellation rows in the raw file", int(is_cancel.sum()))

    kept = np.flatnonzero(keep)
    event_type = np.where(is_cancel[kept], S.EventType.CANCEL.value, S.EventType.PURCHASE.value)
    events = pd.DataFrame({
        S.EVENT_ID: ("or-" + invoice.iloc[kept] + "-" + lines.iloc[kept].astype(str)).astype(str).to_numpy(),
        S.USER_ID: user.iloc[kept].astype(str).to_numpy(),
        S.ITEM_ID: code.iloc[kept].astype(str).to_numpy(),
        S.EVENT_TYPE: event_type.astype(object),
        S.QUANTITY: np.abs(q[kept]).astype("float64"),
        S.PRICE: p[kept].astype("float64"),
        S.TIMESTAMP: when.iloc[kept].to_numpy(),
        S.SESSION_ID: invoice.iloc[kept].astype(str).to_numpy(),
    })
    events[S.TIMESTAMP] = pd.to_datetime(events[S.TIMESTAMP], utc=True)
    too_long = ((events[S.USER_ID].str.len() > S.MAX_ID_LENGTH)
                | (events[S.ITEM_ID].str.len() > S.MAX_ID_LENGTH))
    if too_long.any():
        report.drop(f"id longer than {S.MAX_ID_LENGTH}", int(too_long.sum()))
        events = events[~too_long].reset_index(drop=True)

    stage("building items")
    sold = (q > 0) & (p > 0)
    texts = most_frequent_text(code[sold], desc[sold])
    fallback = most_frequent_text(code, desc)
    texts = texts.combine_first(fallback)
    variants = desc[desc.fillna("") != ""].groupby(code[desc.fillna("") != ""]).nunique()
    items = build_items(events, texts=texts)
    report.note("items with more than one description", int((variants.reindex(items[S.ITEM_ID]) > 1).sum()))
    report.note("items without any description", int((items[S.ITEM_TEXT] == "").sum()))
    return events, items, report
