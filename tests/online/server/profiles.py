"""Stored user rows the server tests share."""

from __future__ import annotations

from fulcrum.core.profile import UserProfile


def looker(cat) -> UserProfile:
    """A multi-behaviour user over the catalogue's first items: bought ids[0]; recently viewed
    ids[1], cancelled ids[2], carted ids[3], disliked ids[4]."""
    ids = [str(i) for i in cat.item_ids[:8]]
    return UserProfile(
        "u2",
        recent_items=(ids[1], ids[2], ids[3], ids[4]),
        recent_types=("VIEW", "CANCEL", "ADD_TO_CART", "DISLIKE"),
        recent_times=(1.0, 2.0, 3.0, 4.0),
        bought=frozenset(ids[:1]),
    )
