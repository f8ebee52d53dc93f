"""Tail share@K, hand-worked."""

import pytest

from offline.eval.tail_share import tail_share


def test_share_of_slots_outside_head():
    # head = {h1, h2}; top-3 lists: [h1, t1, t2] (2 tail) and [h2, h1, t3] (1 tail)
    # -> 3 tail slots of 6 = 0.5; t4 at rank 4 is beyond k
    recs = [["h1", "t1", "t2", "t4"], ["h2", "h1", "t3"]]
    assert tail_share(recs, {"h1", "h2"}, 3) == pytest.approx(0.5)


def test_short_lists_count_only_filled_slots():
    # one list with a single tail item: 1 of 1 filled slot -> 1.0 (not 1/10)
    assert tail_share([["t"]], {"h"}, 10) == 1.0


def test_all_head_and_nothing():
    assert tail_share([["h", "h2"]], {"h", "h2"}, 2) == 0.0
    assert tail_share([], {"h"}, 2) == 0.0
