"""Training rows from Feast's point-in-time historical retrieval.

Label rows are (user_id, timestamp[, item_id]); for each, Feast joins the newest snapshot of every
feature view with ``event_timestamp <= timestamp`` - so a label sees exactly the history before
(or at) its own time, through the same feature definitions the server reads online. The user
columns turn into a ``UserProfile`` with the same code the online client uses
(``fulcrum.core.user_state``), so training and serving cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.profile import UserProfile
from fulcrum.core.user_state import user_profile, user_state_from_row

if TYPE_CHECKING:
    from feast import FeatureStore

LABEL_TIMESTAMP = S.TIMESTAMP


def historical_features(
    store: FeatureStore, labels: pd.DataFrame, service: str = fn.TRAINING_USER_SERVICE
) -> pd.DataFrame:
    """Label rows joined with the service's features as of each row's ``timestamp``.

    ``labels`` needs ``user_id`` and ``timestamp`` (UTC), plus ``item_id`` for
    ``training_ranking``; any other columns are carried through, and the result has exactly the
    input's rows in the input's order. Features are NaN where the entity had no row yet.

    Feast's file (dask) offline store drops an entity row whose entity has feature rows but all of
    them later than the row's timestamp, and collapses rows sharing (join key, timestamp)
    (feast-dev/feast#6787). So each feature view of the service is retrieved on its own, for the
    distinct (join key, timestamp) pairs, and merged back onto every label row: the point-in-time
    join is still Feast's, applied to Feast's own definitions.
    """
    views = [p.name for p in store.get_feature_service(service).feature_view_projections]
    keys = sorted({fn.VIEW_KEY[v] for v in views})
    missing = [c for c in [*keys, LABEL_TIMESTAMP] if c not in labels.columns]
    if missing:
        raise ValueError(
            f"labels: missing column(s) {', '.join(missing)} (needed by feature service {service!r})"
        )
    out = labels.rename(columns={LABEL_TIMESTAMP: fn.EVENT_TS}).reset_index(drop=True)
    out[fn.EVENT_TS] = pd.to_datetime(out[fn.EVENT_TS], utc=True).astype("datetime64[ns, UTC]")
    for k in keys:
        out[k] = out[k].astype(str)
    for view in views:
        key = fn.VIEW_KEY[view]
        entity = out[[key, fn.EVENT_TS]].drop_duplicates().reset_index(drop=True)
        features = [f"{view}:{f}" for f in fn.VIEW_FEATURES[view]]
        got = store.get_historical_features(entity_df=entity, features=features).to_df()
        got[fn.EVENT_TS] = pd.to_datetime(got[fn.EVENT_TS], utc=True).astype("datetime64[ns, UTC]")
        got[key] = got[key].astype(str)
        got = got.drop_duplicates([key, fn.EVENT_TS], keep="last")
        out = out.merge(got[[key, fn.EVENT_TS, *fn.VIEW_FEATURES[view]]], on=[key, fn.EVENT_TS], how="left")
    return out.rename(columns={fn.EVENT_TS: LABEL_TIMESTAMP})


def _none_if_nan(v: object) -> object:
    if v is None:
        return None
    if isinstance(v, float) and v != v:
        return None
    return v


def profiles_from_rows(rows: pd.DataFrame) -> list[UserProfile]:
    """The ``UserProfile`` of each training row (empty profile where the user had no history yet)."""
    cols = [c for c in fn.USER_BEHAVIOUR_FEATURES if c in rows.columns]
    out = []
    for rec in rows[[fn.USER_KEY, *cols]].to_dict("records"):
        clean = {k: _none_if_nan(v) for k, v in rec.items()}
        out.append(user_profile(str(rec[fn.USER_KEY]), user_state_from_row(clean)))
    return out
