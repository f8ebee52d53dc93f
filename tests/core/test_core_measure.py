"""The shared measurement helpers: percentiles (hand-worked) and the free-port helper."""

from __future__ import annotations

import math
import socket

import pytest

from fulcrum.core.percentiles import percentile
from fulcrum.core.ports import free_port


def test_percentile_hand_worked():
    # [1, 2, 3, 4]: rank of q is q/100 * (n - 1); p50 -> 1.5 -> 2 + 0.5 * (3 - 2) = 2.5;
    # p99 -> 2.97 -> 3 + 0.97 * (4 - 3) = 3.97; p0 and p100 are the extremes; order does not matter
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == pytest.approx(3.97)
    assert (percentile([1.0, 2.0, 3.0, 4.0], 0), percentile([1.0, 2.0, 3.0, 4.0], 100)) == (1.0, 4.0)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="q:"):
        percentile([1.0], 101)


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free a moment ago, so binding it works now
        assert s.getsockname()[1] == port
