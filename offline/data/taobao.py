"""Adapter for the Taobao "UserBehavior" log (Alibaba, Tianchi dataset 649) and samples of it.

The file (CSV, optionally gzip) has the header ``user_id,item_id,category_id,behavior_type,
timestamp``: behaviours ``pv`` (page view), ``cart``, ``fav`` (favourite) and ``buy``; times in
Unix seconds; items carry only a category id, no text. Mapped onto the generic schema:

- events: ``behavior_type`` -> ``event_type`` through offline/data/event_names.py (pv -> VIEW,
  cart and fav -> ADD_TO_CART, buy -> PURCHASE; ``--event-map`` overrides), everything else by
  the generic cleaning rules (offline/data/generic.py), one event per row (``event_id`` = the
  line number);
- items: one row per item id with text ``"category id <category_id>"`` (its most frequent
  category), so the text tower sees the only attribute there is.

The dataset's terms allow research and non-commercial use; Fulcrum does not ship it. Prepare it
with ``fulcrum data prepare --source taobao --raw user-behavior-sample.csv.gz --split time
--cutoff 2017-12-02T16:00:00`` (the last day of its window is the test).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fulcrum.core import schema as S
from offline.data.csv_reader import LINE_COLUMN, ProgressFn
from offline.data.generic import clean, read_table
from offline.data.items import most_frequent_text
from offline.data.report import CleaningReport

SOURCE = "taobao"
BEHAVIOUR = "behavior_type"
CATEGORY = "category_id"
REQUIRED = (S.USER_ID, S.ITEM_ID, CATEGORY, BEHAVIOUR, S.TIMESTAMP)


def load(
    path: str | Path, progress: ProgressFn | None = None, event_map: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, CleaningReport]:
    """(events without split, items, report) from a UserBehavior CSV."""
    raw = read_table(path, REQUIRED, progress=progress)
    events = raw.rename(columns={BEHAVIOUR: S.EVENT_TYPE})
    ids = events[S.ITEM_ID].astype("string").str.strip()
    category = most_frequent_text(ids, "category id " + events[CATEGORY].astype("string").str.strip())
    items = pd.DataFrame({S.ITEM_ID: category.index.astype(str), S.ITEM_TEXT: category.to_numpy()})
    items[LINE_COLUMN] = range(1, len(items) + 1)
    return clean(events, str(path), items, f"{path} (categories)", event_map, source=SOURCE)
