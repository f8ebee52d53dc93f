"""The serving process's tuning: one BLAS thread, start-up objects frozen out of the GC."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from online.server.process_tuning import freeze_heap, limit_blas_threads


def test_blas_is_limited_to_one_thread() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    np.ones((4, 4)) @ np.ones(4)  # NumPy's BLAS is loaded
    before = {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert before, "NumPy loaded no BLAS library"
    try:
        limit_blas_threads()
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert after and all(n == 1 for n in after)
    finally:
        for path, n in before.items():
            threadpool_limits(limits={path: n})


def test_start_up_objects_are_frozen_and_later_ones_are_not() -> None:
    # Membership, not exact counts: other threads (a Kafka client left by an earlier test) free
    # frozen objects at any moment, which lowers gc.get_freeze_count() between two reads.
    # gc.get_objects() lists the collector's generations only, never the frozen (permanent) one.
    gc.unfreeze()
    try:
        startup = [[i] for i in range(1000)]  # tracked containers alive at "start-up"
        frozen = freeze_heap()
        assert frozen >= len(startup)
        later = [[i] for i in range(10)]  # made after the freeze: collected as usual
        collectable = {id(o) for o in gc.get_objects()}
        assert not any(id(x) in collectable for x in startup)
        assert all(gc.is_tracked(x) and id(x) in collectable for x in later)
        # again (after a reload): the frozen set is rebuilt from what is alive now
        del startup
        assert freeze_heap() >= len(later)
        collectable = {id(o) for o in gc.get_objects()}
        assert not any(id(x) in collectable for x in later)
    finally:
        gc.unfreeze()


def test_gil_switch_interval_is_applied_at_start_up(monkeypatch, tmp_path) -> None:
    # _serve_process is what `fulcrum serve` (and each worker) runs before its event loop; the
    # server itself is replaced by a coroutine that reads the interval the loop runs under.
    import sys

    from online.config import build_config
    from online.server import command

    seen: list[float] = []

    async def fake_run(cfg, bundle, worker=None) -> None:
        seen.append(sys.getswitchinterval())

    monkeypatch.setattr(command, "_run", fake_run)
    before = sys.getswitchinterval()
    try:
        cfg = build_config({}, env={"FULCRUM_GIL_SWITCH_INTERVAL_MS": "2"})
        assert command._serve_process(cfg, tmp_path) == 0
        assert seen == [pytest.approx(0.002)]
    finally:
        sys.setswitchinterval(before)


def test_gil_switch_interval_refuses_a_non_positive_value() -> None:
    import sys

    from online.server.process_tuning import set_gil_switch_interval

    before = sys.getswitchinterval()
    with pytest.raises(ValueError, match="gil_switch_interval_ms must be > 0"):
        set_gil_switch_interval(0.0)
    assert sys.getswitchinterval() == before  # left unchanged
