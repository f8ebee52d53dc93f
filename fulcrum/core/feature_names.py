"""Names of the Feast objects and features: the one list the feature repo, the offline batch job,
the training reader and the online client all import, so no side spells a name of its own.

The feature repo (feature_repo/) builds its entities, views, push sources and services from
these names; a test checks that the applied registry matches them.
"""

from __future__ import annotations

from fulcrum.core.schema import BEHAVIOUR_TYPES

# ---- entities (join keys are the event table's column names) ----------------------------------
USER_ENTITY = "user"
ITEM_ENTITY = "item"
USER_KEY = "user_id"
ITEM_KEY = "item_id"
#: the timestamp column of every batch source and every pushed frame
EVENT_TS = "event_timestamp"

# ---- feature views, their push sources and their parquet batch sources (under data/) ----------
USER_BEHAVIOUR_VIEW = "user_behaviour"
USER_EMBEDDING_VIEW = "user_embedding"
ITEM_STATS_VIEW = "item_stats"
ITEM_EMBEDDING_VIEW = "item_embedding"
VIEWS: tuple[str, ...] = (USER_BEHAVIOUR_VIEW, USER_EMBEDDING_VIEW, ITEM_STATS_VIEW, ITEM_EMBEDDING_VIEW)


def push_source_name(view: str) -> str:
    return f"{view}_push"


def batch_file_name(view: str) -> str:
    """File name of a view's parquet batch source, relative to the repo's data/ folder."""
    return f"{view}.parquet"


# ---- user behaviour ----------------------------------------------------------------------------
#: count windows in calendar days, anchored at the day of the row's ``as_of_s`` (None = all time)
WINDOWS: dict[str, int | None] = {"7d": 7, "30d": 30, "all": None}
MAX_WINDOW_DAYS = 30


def count_feature(event_type: str, window: str) -> str:
    """e.g. count_feature("PURCHASE", "7d") -> "purchase_count_7d"."""
    return f"{event_type.lower()}_count_{window}"


COUNT_FEATURES: tuple[str, ...] = tuple(count_feature(t, w) for t in BEHAVIOUR_TYPES for w in WINDOWS)
AS_OF = "as_of_s"  # epoch seconds of the newest event folded into the row
LAST_ACTIVE = "last_active_s"  # epoch seconds of the newest non-impression event (NaN: none)
DAILY_COUNTS = "daily_counts_json"  # {"<day index>": {"<TYPE>": n}} for the last MAX_WINDOW_DAYS days
RECENT_ITEMS = "recent_items"  # oldest first, at most RECENT_MAX
RECENT_TYPES = "recent_types"
RECENT_TIMES = "recent_times"
BOUGHT = "bought_items"  # oldest first (by the time of the item's newest purchase, then id)
BOUGHT_TIMES = "bought_times"  # epoch seconds of each bought item's newest purchase
CANCELLED = "cancelled_items"  # like bought
CANCELLED_TIMES = "cancelled_times"
DISLIKED = "disliked_items"  # like bought
DISLIKED_TIMES = "disliked_times"
#: {"<item id>": [impressions since the last click/cart/purchase, epoch seconds of the newest]}
IGNORED = "ignored_json"
USER_BEHAVIOUR_FEATURES: tuple[str, ...] = COUNT_FEATURES + (
    AS_OF,
    LAST_ACTIVE,
    DAILY_COUNTS,
    RECENT_ITEMS,
    RECENT_TYPES,
    RECENT_TIMES,
    BOUGHT,
    BOUGHT_TIMES,
    CANCELLED,
    CANCELLED_TIMES,
    DISLIKED,
    DISLIKED_TIMES,
    IGNORED,
)
#: the recent sequence's length; the item sets' cap is configurable (fulcrum/core/user_state.py)
RECENT_MAX = 50

USER_EMBEDDING = "user_embedding"  # float32 list, pushed by whoever computes it
USER_EMBEDDING_FEATURES: tuple[str, ...] = (USER_EMBEDDING,)

# ---- items -------------------------------------------------------------------------------------
ITEM_AS_OF = "item_as_of_s"
ITEM_PURCHASES = "item_purchase_count"
ITEM_IMPRESSIONS = "item_impression_count"
ITEM_CLICKS = "item_click_count"
ITEM_CANCELS = "item_cancel_count"
ITEM_CANCEL_RATE = "item_cancel_rate"  # cancels / (purchases + cancels), 0 when both are 0
ITEM_PRICE = "item_price"  # price of the newest event with a positive price (NaN: none yet)
ITEM_FIRST_SEEN = "item_first_seen_s"  # epoch seconds of the earliest event or catalogue entry
ITEM_POPULARITY_RANK = "item_popularity_rank"  # 1 = most purchased at the last batch run; 0 = unranked
ITEM_STATS_FEATURES: tuple[str, ...] = (
    ITEM_AS_OF,
    ITEM_PURCHASES,
    ITEM_IMPRESSIONS,
    ITEM_CLICKS,
    ITEM_CANCELS,
    ITEM_CANCEL_RATE,
    ITEM_PRICE,
    ITEM_FIRST_SEEN,
    ITEM_POPULARITY_RANK,
)
ITEM_EMBEDDING = "item_embedding"  # float32 list
ITEM_TEXT = "item_text"
ITEM_EMBEDDING_FEATURES: tuple[str, ...] = (ITEM_EMBEDDING, ITEM_TEXT)

# ---- feature services: exactly what each reader reads -------------------------------------------
RECOMMEND_USER_SERVICE = "recommend_user"  # user_behaviour + user_embedding
RECOMMEND_ITEMS_SERVICE = "recommend_items"  # item_stats
SEARCH_USER_SERVICE = "search_user"  # user_behaviour
SEARCH_ITEMS_SERVICE = "search_items"  # item_stats + item_embedding (price filters, new items)
TRAINING_USER_SERVICE = "training_user"  # user_behaviour (point-in-time for label rows)
TRAINING_RANKING_SERVICE = "training_ranking"  # user_behaviour + item_stats for (user, item, ts) rows
SERVICES: dict[str, tuple[str, ...]] = {
    RECOMMEND_USER_SERVICE: (USER_BEHAVIOUR_VIEW, USER_EMBEDDING_VIEW),
    RECOMMEND_ITEMS_SERVICE: (ITEM_STATS_VIEW,),
    SEARCH_USER_SERVICE: (USER_BEHAVIOUR_VIEW,),
    SEARCH_ITEMS_SERVICE: (ITEM_STATS_VIEW, ITEM_EMBEDDING_VIEW),
    TRAINING_USER_SERVICE: (USER_BEHAVIOUR_VIEW,),
    TRAINING_RANKING_SERVICE: (USER_BEHAVIOUR_VIEW, ITEM_STATS_VIEW),
}
VIEW_FEATURES: dict[str, tuple[str, ...]] = {
    USER_BEHAVIOUR_VIEW: USER_BEHAVIOUR_FEATURES,
    USER_EMBEDDING_VIEW: USER_EMBEDDING_FEATURES,
    ITEM_STATS_VIEW: ITEM_STATS_FEATURES,
    ITEM_EMBEDDING_VIEW: ITEM_EMBEDDING_FEATURES,
}
VIEW_KEY: dict[str, str] = {
    USER_BEHAVIOUR_VIEW: USER_KEY,
    USER_EMBEDDING_VIEW: USER_KEY,
    ITEM_STATS_VIEW: ITEM_KEY,
    ITEM_EMBEDDING_VIEW: ITEM_KEY,
}
