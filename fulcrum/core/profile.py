"""What the models know about a user at one moment: the same object offline and online.

Offline builds a ``UserProfile`` from history before a cut-off (point-in-time); online builds it
from Feast's online features (plus the request's session items). The user encoder and the
ranking features read only this, so training and serving cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    #: recent behaviour, oldest first: item ids, event type names, epoch seconds
    recent_items: tuple[str, ...] = ()
    recent_types: tuple[str, ...] = ()
    recent_times: tuple[float, ...] = ()
    purchase_count: float = 0.0
    cancel_count: float = 0.0
    distinct_items: float = 0.0
    last_active: float | None = None  # epoch seconds
    bought: frozenset[str] = field(default_factory=frozenset)
    cancelled: frozenset[str] = field(default_factory=frozenset)
    disliked: frozenset[str] = field(default_factory=frozenset)
    #: item id -> impressions shown without a click
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def is_cold(self) -> bool:
        return not self.recent_items
