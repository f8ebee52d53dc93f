"""Build the items table (item_id, text, price, first_seen) from prepared events.

Generic over sources: an adapter supplies the item texts (and optionally catalogue prices); the
rest is derived from the events so every item an event mentions has exactly one row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S


def most_frequent_text(keys: pd.Series, texts: pd.Series) -> pd.Series:
    """For each key, its most frequent non-empty text; ties go to the alphabetically first.

    >>> most_frequent_text(pd.Series(["a", "a", "a", "b"]), pd.Series(["X", "Y", "Y", ""])).to_dict()
    {'a': 'Y'}
    """
    frame = pd.DataFrame({"k": keys.to_numpy(), "t": texts.astype("string").fillna("").to_numpy()})
    frame = frame[frame["t"] != ""]
    if frame.empty:
        return pd.Series(dtype="string")
    counts = frame.groupby(["k", "t"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["k", "n", "t"], ascending=[True, False, True], kind="stable")
    best = counts.drop_duplicates("k", keep="first")
    return pd.Series(best["t"].to_numpy(), index=best["k"].to_numpy(), dtype="string")


def build_items(
    events: pd.DataFrame,
    texts: pd.Series | None = None,
    catalogue_prices: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per item appearing in ``events``.

    price = the catalogue price when given, else the median positive PURCHASE price of the item,
    else the median positive price of any of its events; first_seen = its earliest event.
    """
    ids = pd.Index(pd.unique(events[S.ITEM_ID]))
    grouped = events.groupby(S.ITEM_ID, sort=False)
    first_seen = grouped[S.TIMESTAMP].min().reindex(ids)

    priced = events[events[S.PRICE] > 0]
    purchase_median = (
        priced[priced[S.EVENT_TYPE] == S.EventType.PURCHASE.value].groupby(S.ITEM_ID)[S.PRICE].median()
    )
    any_median = priced.groupby(S.ITEM_ID)[S.PRICE].median()
    price = purchase_median.reindex(ids).fillna(any_median.reindex(ids))
    if catalogue_prices is not None:
        given = catalogue_prices.reindex(ids)
        price = given.where(given.notna(), price)

    text = texts.reindex(ids) if texts is not None else pd.Series(pd.NA, index=ids, dtype="string")
    items = pd.DataFrame({
        S.ITEM_ID: ids.astype(str),
        S.ITEM_TEXT: text.astype("string").fillna("").str.slice(0, S.MAX_ITEM_TEXT_LENGTH).to_numpy(),
        S.PRICE: price.astype("float64").to_numpy(),
        S.FIRST_SEEN: first_seen.to_numpy(),
    })
    items[S.ITEM_TEXT] = items[S.ITEM_TEXT].astype(str)
    items[S.FIRST_SEEN] = pd.to_datetime(items[S.FIRST_SEEN], utc=True)
    order = np.lexsort((items[S.ITEM_ID].to_numpy(), items[S.FIRST_SEEN].to_numpy()))
    return items.iloc[order].reset_index(drop=True)


def unsold_items(
    items: pd.DataFrame, texts: pd.Series, catalogue_prices: pd.Series | None, first_seen: pd.Timestamp
) -> pd.DataFrame:
    """``items`` plus one row per catalogue item that no event mentions (``--keep-unsold-items``).

    Their text and price come from the catalogue; ``first_seen`` is given (the newest event's
    time: as far as the data can tell, the item arrived by then). They get no purchases in
    training, so their vectors are the text encoder's alone and Search finds them by text.
    """
    known = set(items[S.ITEM_ID].astype(str))
    ids = [str(i) for i in texts.index if str(i) not in known]
    if not ids:
        return items
    price = (
        catalogue_prices.reindex(ids).astype("float64").to_numpy()
        if catalogue_prices is not None
        else np.full(len(ids), np.nan)
    )
    extra = pd.DataFrame({
        S.ITEM_ID: ids,
        S.ITEM_TEXT: texts.reindex(ids).astype("string").fillna("").str.slice(0, S.MAX_ITEM_TEXT_LENGTH)
        .astype(str).to_numpy(),
        S.PRICE: price,
        S.FIRST_SEEN: pd.to_datetime([first_seen] * len(ids), utc=True),
    })
    return pd.concat([items, extra], ignore_index=True)
