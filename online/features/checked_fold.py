"""The compare-and-set fold of ``FeastEventSink`` (several writers of one row) and its state cache.

With the plain Redis online store (``skip_dedup``), each view's rows are written compare-and-set
(online/features/redis_write.py ``CasWriter``): the sink reads a row's write version BEFORE its
values, folds, and writes only if the version did not move meanwhile; a row another writer
changed is read and folded again (after leaving out, per the applied-events journal, events that
writer applied to it), up to ``CAS_ATTEMPTS`` rounds. So two consumers updating one item's counts,
a consumer and a server's IngestEvents door writing one user, or a consumer overtaken after its
claim expired never lose or double an update. A cached state is used only while the stored
version is still the one this sink wrote: a cache can no longer overwrite another writer's rows.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from online.features.online_write import OnlineRowWriter
from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

#: compare-and-set rounds per view and batch before the batch is retried as unavailable
CAS_ATTEMPTS = 20


class StateCache:
    """A bounded LRU of entity id -> folded state (``None`` = known absent from the store)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[str, Any] = OrderedDict()

    def split(self, ids: list[str]) -> tuple[dict[str, Any], list[str]]:
        """(cached states of ``ids``, ids to read from the store)."""
        hits: dict[str, Any] = {}
        misses: list[str] = []
        d = self._d
        for i in ids:
            if i in d:
                d.move_to_end(i)
                hits[i] = d[i]
            else:
                misses.append(i)
        return hits, misses

    def put(self, states: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        d = self._d
        for k, v in states.items():
            d[k] = v
            d.move_to_end(k)
        while len(d) > self.size:
            d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


class CheckedFolds:
    """Mixed into ``FeastEventSink`` (uses its ``_writer``, ``_read``, ``_cache``, ``_versions``,
    ``_view_events`` and ``_done``)."""

    _cache: dict[str, StateCache]
    _versions: dict[str, dict[str, int]]
    _view_events: dict[str, dict[str, list[str]]]
    _done: set[str]
    _writer: Callable[[str], OnlineRowWriter]
    _read: Callable[[str, str, list[str]], dict[str, dict[str, Any]]]

    @staticmethod
    def _drop_applied_meanwhile(
        view: str,
        writer: OnlineRowWriter,
        rows: list[str],
        grouped: dict[str, Any],
        by_row: dict[str, list[str]],
    ) -> None:
        """Before folding a conflicting row again: leave out the events another writer applied to
        it meanwhile (a claim that expired while this writer was slow), per the journal."""
        ids = [e for r in rows for e in by_row.get(r, ())]
        try:
            done = writer.applied(ids)
        except Exception as e:
            raise SinkUnavailable(f"reading the {view} journal failed: {type(e).__name__}: {e}") from e
        if not done:
            return
        for r in rows:
            eids = by_row.get(r, [])
            if len(eids) != len(grouped[r]):  # not aligned (cannot happen): keep the fold as it is
                continue
            keep = [k for k, e in enumerate(eids) if e not in done]
            grouped[r] = [grouped[r][k] for k in keep]
            by_row[r] = [eids[k] for k in keep]

    def _fold_write_checked(
        self,
        view: str,
        key: str,
        grouped: dict[str, Any],
        from_row: Callable[[Any], Any],
        to_row: Callable[[Any], dict[str, Any]],
        fold: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
        state_type: type,
    ) -> dict[str, Any]:
        """Read, fold and compare-and-set write the rows of one view (several writers: online/
        features/redis_write.py ``CasWriter``). Each row's version is read BEFORE its values; a
        cached state is used only while the stored version is still the one this sink wrote; a
        row another writer changed meanwhile is read again and folded again, up to
        ``CAS_ATTEMPTS`` times. Returns the new states."""
        if view in self._done or not grouped:
            return {}
        writer, cache, cached_v = self._writer(view), self._cache[view], self._versions[view]
        ids = sorted(grouped)
        try:
            versions = writer.row_versions(ids)
        except Exception as e:
            raise SinkUnavailable(f"reading {view} versions failed: {type(e).__name__}: {e}") from e
        hits, misses = cache.split(ids)
        for i in [i for i in hits if cached_v.get(i) != versions[i]]:
            del hits[i]
            misses.append(i)
        read = self._read(view, key, misses)
        hits.update({i: (from_row(read[i]) if i in read else None) for i in misses})
        new = fold({i: s for i, s in hits.items() if isinstance(s, state_type)}, grouped)
        by_row = self._view_events.get(view, {})
        todo = [i for i in ids if not new[i].is_empty]
        for _ in range(CAS_ATTEMPTS):
            try:
                unwritten, conflicting = writer.write_checked(
                    todo,
                    [to_row(new[i]) for i in todo],
                    [float(new[i].as_of or 0.0) for i in todo],
                    versions,
                    by_row,
                )
            except Exception as e:
                raise SinkUnavailable(
                    f"writing {view} to the feature store failed: {type(e).__name__}: {e}"
                ) from e
            left = set(unwritten)
            written = {i: new[i] for i in todo if i not in left}
            cache.put(written)
            if len(cached_v) > max(cache.size, 1) * 2:
                cached_v.clear()
            for i in written:
                cached_v[i] = versions[i] + 1
            if not unwritten:
                self._done.add(view)
                return new
            log.info(
                "%d %s rows changed by another writer since read: reading and folding again",
                len(conflicting),
                view,
            )
            try:
                versions.update(writer.row_versions(conflicting))
            except Exception as e:
                raise SinkUnavailable(f"reading {view} versions failed: {type(e).__name__}: {e}") from e
            self._drop_applied_meanwhile(view, writer, conflicting, grouped, by_row)
            again = self._read(view, key, conflicting)
            for i in conflicting:
                base = from_row(again[i]) if i in again else None
                new[i] = fold({i: base} if isinstance(base, state_type) else {}, {i: grouped[i]})[i]
            todo = unwritten
        raise SinkUnavailable(
            f"{view}: rows kept changing under this writer ({CAS_ATTEMPTS} attempts); retrying"
        )
