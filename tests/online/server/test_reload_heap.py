"""A reload frees the old bundle by reference counting alone, off the event loop
(online/server/process_tuning.py's ``refreeze_heap`` runs no full collection after a reload, as
that walk stalled the event loop for ~500 ms; online/server/retire.py drops the old model in a
thread): with the cyclic collector switched off, the old serving model, bundle, catalogue and
lexical index are gone soon after ReloadModel answers, and not on the event-loop thread (real
gRPC server on port 0)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import pandas as pd

from fulcrum.core.profile import UserProfile
from fulcrum.v1 import recommender_pb2 as pb
from online.server.feature_source import InMemoryFeatures
from online.server.retire import retire
from tests.serving_helpers import serving


def _refs(holder, freed_on: list) -> dict[str, weakref.ref]:
    model = holder.current
    cat = model.catalogue.current

    def gone(_ref) -> None:
        freed_on.append(threading.current_thread().name)

    out = {"model": weakref.ref(model, gone), "bundle": weakref.ref(model.bundle, gone)}
    out["catalogue"] = weakref.ref(cat, gone)
    if cat.lexical is not None:
        out["lexical"] = weakref.ref(cat.lexical, gone)
    return out


def test_the_old_bundle_goes_by_reference_counting_on_reload(tiny_bundle):
    items = pd.read_parquet(tiny_bundle / "items.parquet").item_id.astype(str).tolist()
    user = UserProfile("u1", recent_items=tuple(items[:3]), bought=frozenset(items[:2]))
    features = InMemoryFeatures([user])

    async def body():
        async with serving(tiny_bundle, features) as (stub, server, *_):
            # exercise what a serving model builds lazily (caches, the profile rows, Search's parts)
            await stub.Recommend(pb.RecommendRequest(user_id="u1", k=5), timeout=30)
            await stub.Recommend(pb.RecommendRequest(user_id="nobody", k=5), timeout=30)
            await stub.Search(pb.SearchRequest(query="candle", k=5, user_id="u1"), timeout=30)
            freed_on: list[str] = []
            refs = _refs(server.holder, freed_on)
            await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30)  # caches the metrics JSON
            gc.collect()
            gc.disable()  # from here on only reference counting frees anything
            try:
                reply = await stub.ReloadModel(pb.ReloadModelRequest(), timeout=60)
                again = await stub.Recommend(pb.RecommendRequest(user_id="u1", k=5), timeout=30)
                deadline = time.monotonic() + 20  # well inside retire()'s own 60 s wait for sole ownership
                while any(r() is not None for r in refs.values()) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                alive = {name: ref() is not None for name, ref in refs.items()}
            finally:
                gc.enable()
                gc.unfreeze()
            return reply, alive, again, freed_on, threading.current_thread().name

    reply, alive, again, freed_on, loop_thread = asyncio.run(body())
    assert reply.bundle_version == reply.previous_version  # the same bundle, loaded anew
    assert len(alive) >= 4 and not any(alive.values()), alive
    assert len(freed_on) == len(alive) and set(freed_on) == {"retire-model"}, (freed_on, loop_thread)
    assert len(again.items) == 5


class _Node:
    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def test_retire_waits_for_sole_ownership_and_never_dismantles_what_others_hold():
    shared = _Node(value=[1, 2, 3])
    leaf = _Node(data=list(range(10)))
    root = _Node(leaf=leaf, shared=shared)
    refs = {"root": weakref.ref(root), "leaf": weakref.ref(leaf)}
    del leaf
    user = root  # a call still using the replaced model
    thread = retire([root], wait_s=30, poll_s=0.01)
    del root
    time.sleep(0.2)
    assert thread.is_alive() and user.leaf.data[0] == 0  # untouched while someone holds it
    del user
    thread.join(30)
    assert not thread.is_alive() and all(r() is None for r in refs.values())
    assert shared.value == [1, 2, 3]  # held elsewhere: released by the model, never emptied
