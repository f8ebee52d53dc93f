"""What the server needs from the online feature store, as a small protocol.

``FeatureSource.get_user_profile(user_id, timeout_s)`` returns the user's ``UserProfile`` (an
empty profile for an unknown user: cold start, not an error) or raises
``fulcrum.core.errors.FeatureStoreUnavailable``. Two implementations: ``InMemoryFeatures`` (tests, the
demo without Feast) and ``FeastFeatureSource`` (wraps the feature engineer's
``online.features.client.OnlineFeatureClient``; imported lazily so tests need no Feast repo).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from fulcrum.core.errors import FeatureStoreUnavailable
from fulcrum.core.profile import UserProfile


@runtime_checkable
class FeatureSource(Protocol):
    def get_user_profile(self, user_id: str, timeout_s: float) -> UserProfile: ...


class InMemoryFeatures:
    """Profiles kept in a dict; ``fail`` / ``delay_s`` simulate an unhealthy store in tests.

    It is also an ``EventSink`` (``apply``): ingested behaviour events are folded with the
    shared ``fulcrum.core.user_state`` fold, so the embedded demo without Feast sees its own
    purchases (anti-recommendation goes live).
    """

    def __init__(self, profiles: Iterable[UserProfile] = ()) -> None:
        self._profiles = {p.user_id: p for p in profiles}
        self._states: dict = {}
        self._lock = threading.Lock()
        self.fail = False
        self.delay_s = 0.0

    def forget_user(self, user_id: str) -> None:
        """Drop everything held about ``user_id`` (ForgetUser)."""
        with self._lock:
            self._profiles.pop(user_id, None)
            self._states.pop(user_id, None)

    def apply(self, events: Sequence) -> None:
        from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events, user_profile

        by_user: dict[str, list] = {}
        for e in events:
            if e.is_item_upsert or not e.user_id:
                continue
            by_user.setdefault(e.user_id, []).append(
                BehaviourEvent(e.item_id, e.event_type.value, e.timestamp_ms / 1000.0)
            )
        with self._lock:
            for user, evs in by_user.items():
                state = fold_user_events(self._states.get(user, UserState()), evs)
                self._states[user] = state
                self._profiles[user] = user_profile(user, state)

    def put(self, profile: UserProfile) -> None:
        with self._lock:
            self._profiles[profile.user_id] = profile

    def get_user_profile(self, user_id: str, timeout_s: float) -> UserProfile:
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.fail:
            raise FeatureStoreUnavailable("in-memory feature store told to fail")
        with self._lock:
            return self._profiles.get(user_id) or UserProfile(user_id=user_id)

    async def get_user_profile_async(self, user_id: str, timeout_s: float) -> UserProfile:
        if self.delay_s or self.fail:  # simulate a slow/broken store without blocking the loop
            return await asyncio.to_thread(self.get_user_profile, user_id, timeout_s)
        with self._lock:
            return self._profiles.get(user_id) or UserProfile(user_id=user_id)

    def record_purchase(self, user_id: str, item_id: str) -> None:
        with self._lock:
            p = self._profiles.get(user_id) or UserProfile(user_id=user_id)
            self._profiles[user_id] = replace(p, bought=p.bought | {item_id})


class FeastFeatureSource:
    """Adapter over ``OnlineFeatureClient`` (online/features/client.py, the feature engineer's)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def from_repo(
        cls, repo_path: str, timeout_s: float = 0.05, user_cache_entries: int = 0
    ) -> FeastFeatureSource:
        from online.features.client import OnlineFeatureClient

        return cls(
            OnlineFeatureClient.open(
                repo_path, default_timeout_s=timeout_s, user_cache_entries=user_cache_entries
            )
        )

    def forget_user(self, user_id: str) -> None:
        """ForgetUser: drop the client's in-process copies of the user (its decoded-user cache)."""
        forget = getattr(self._client, "forget_user", None)
        if callable(forget):
            forget(user_id)

    @property
    def client(self) -> Any:
        return self._client

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def get_user_profile(self, user_id: str, timeout_s: float) -> UserProfile:
        try:
            result = self._client.get_user_profile(user_id, timeout_s=timeout_s)
        except FeatureStoreUnavailable:
            raise
        except Exception as e:  # the client's own unavailable error, or anything from Feast
            raise FeatureStoreUnavailable(f"feature store: {type(e).__name__}: {e}") from e
        return self._profile(result)

    async def get_user_profile_async(self, user_id: str, timeout_s: float) -> UserProfile:
        if not hasattr(self._client, "get_user_profile_async"):
            return await asyncio.to_thread(self.get_user_profile, user_id, timeout_s)
        try:
            result = await self._client.get_user_profile_async(user_id, timeout_s=timeout_s)
        except FeatureStoreUnavailable:
            raise
        except Exception as e:
            raise FeatureStoreUnavailable(f"feature store: {type(e).__name__}: {e}") from e
        return self._profile(result)

    @staticmethod
    def _profile(result: Any) -> UserProfile:
        profile = result[0] if isinstance(result, tuple) else getattr(result, "profile", result)
        if not isinstance(profile, UserProfile):
            raise FeatureStoreUnavailable(
                f"feature client returned {type(profile).__name__}, not UserProfile"
            )
        return profile
