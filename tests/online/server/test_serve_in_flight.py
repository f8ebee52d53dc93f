"""When a lone request may skip the batcher's thread hop: InFlight's load memory, and the
batcher's inline path versus its executor path."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from online.inference.batcher import MicroBatcher
from online.server.in_flight import InFlight


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_single_client_is_always_alone():
    clock = FakeClock()
    f = InFlight(quiet_s=0.25, clock=clock)
    for _ in range(5):  # one call at a time, nothing ever overlaps
        with f:
            assert f.count == 1 and f.alone()
        clock.t += 0.001
    assert f.count == 0


def test_an_overlap_disables_inline_until_quiet_again():
    clock = FakeClock()
    f = InFlight(quiet_s=0.25, clock=clock)
    with f:
        with f:  # a second call enters while the first is in flight at t = 100.0
            assert not f.alone()  # two in flight
        # back to one in flight, but an overlap happened 0 s ago (< 0.25 s): still under load
        assert not f.alone()
    clock.t = 100.2  # 0.2 s after the overlap: still inside the quiet window
    with f:
        assert not f.alone()
    clock.t = 100.25  # exactly quiet_s after the last overlap: alone again
    with f:
        assert f.alone()


def test_overlaps_keep_renewing_the_window():
    clock = FakeClock()
    f = InFlight(quiet_s=0.25, clock=clock)
    for step in range(4):  # an overlap every 0.2 s: the window never closes
        clock.t = 100.0 + 0.2 * step
        with f, f:
            pass
        clock.t += 0.1
        with f:
            assert not f.alone()
    clock.t += 0.25  # 0.35 s after the last overlap at 100.6
    with f:
        assert f.alone()


def _threads_used(inline: bool) -> tuple[set[int], int]:
    ran_on: set[int] = set()

    def fn(batch):
        ran_on.add(threading.get_ident())
        return batch

    async def main() -> int:
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", fn, ex, inline_if=lambda: inline)
            for i in range(3):
                assert await b.submit(i) == i
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    return ran_on, loop_thread


def test_lone_request_runs_inline_on_the_loop_thread():
    ran_on, loop_thread = _threads_used(inline=True)
    assert ran_on == {loop_thread}


def test_under_load_the_batch_runs_in_the_executor():
    ran_on, loop_thread = _threads_used(inline=False)
    assert len(ran_on) == 1 and loop_thread not in ran_on


def test_concurrent_requests_that_never_await_still_batch():
    # Each call enters InFlight and submits at once (like a handler whose feature read never
    # suspends). Without the batcher's one-iteration yield the first call would see itself
    # alone and run inline; with it, call 0 yields, calls 1 and 2 enter (count 2, 3: overlap),
    # queue behind it, and all three go to the executor as ONE batch of 3.
    sizes: list[int] = []
    ran_on: set[int] = set()

    def fn(batch):
        sizes.append(len(batch))
        ran_on.add(threading.get_ident())
        return batch

    async def main() -> int:
        in_flight = InFlight()
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", fn, ex, inline_if=in_flight.alone)

            async def call(i: int) -> int:
                with in_flight:
                    return await b.submit(i)

            assert await asyncio.gather(call(0), call(1), call(2)) == [0, 1, 2]
            assert not in_flight.alone()  # the overlap is remembered for quiet_s
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert sizes == [3] and loop_thread not in ran_on
