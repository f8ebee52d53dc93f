"""Anti-recommendation: the items a user must not be shown."""

from __future__ import annotations

from collections.abc import Iterable

from fulcrum.core.profile import UserProfile


def blocked_items(
    profile: UserProfile,
    allow_repurchase: bool,
    ignored_threshold: int,
    excludes: Iterable[str] = (),
) -> frozenset[str]:
    """Items never to return to this user in this request.

    - bought, unless ``allow_repurchase`` (consumables);
    - cancelled and disliked, always;
    - shown ``>= ignored_threshold`` times without a click;
    - the request's own exclude list.
    """
    blocked: set[str] = set(excludes)
    if not allow_repurchase:
        blocked |= profile.bought
    blocked |= profile.cancelled
    blocked |= profile.disliked
    blocked |= {item for item, shown in profile.ignored.items() if shown >= ignored_threshold}
    return frozenset(blocked)
