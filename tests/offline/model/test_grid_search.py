"""The hybrid weights' search (offline/model/grid_search.py): edge extension by doubling (hand-worked),
the coarse grid, the fine box, coarse-then-fine = the full grid's argmax where it must be, and the
answer is always the best evaluated point."""

from __future__ import annotations

import math

import pytest

from fulcrum.core import neighbour_source as ns
from fulcrum.core.repeat_term import INDICATOR, RepeatShape
from offline.model.grid_search import GridAxes, fine_values, search
from offline.train_config import HybridConfig

GRADED = RepeatShape(True, 1.0, 4.0)
NO_DECAY = RepeatShape(True, 0.0, 4.0)


def _counting(metric):
    """evaluate_many of a metric of the weights, recording every point it is asked for."""
    seen: list = []

    def many(points):
        seen.extend(points)
        return [{"ndcg@10": metric(w)} for w in points]

    return many, seen


def _repeat_peak(at: float):
    # -(log2 r - log2 at)^2: unimodal in the repeat weight, best at ``at``; r = 0 is worst
    return lambda w: -100.0 if w.repeat == 0 else -(math.log2(w.repeat) - math.log2(at)) ** 2


def test_the_top_of_the_repeat_grid_is_doubled_until_an_interior_best() -> None:
    axes = GridAxes((0.0,), (0.0,), (0.0, 1.0, 2.0, 4.0, 8.0, 16.0), (GRADED,))
    many, seen = _counting(_repeat_peak(64.0))
    found = search(many, axes, ns.INTERACTIONS, max_doublings=4)
    # the grid's best is its top 16 (-4): try 32 (-1), best at the new top: try 64 (0), again:
    # try 128 (-1), worse than 64, which is now interior: stop after 3 of the 4 doublings
    assert [w.repeat for w in seen] == [0, 1, 2, 4, 8, 16, 32, 64, 128]
    assert found.best.repeat == 64.0 and found.best.repeat_shape == GRADED
    assert [p["repeat_weight"] for p in found.points] == [0, 1, 2, 4, 8, 16, 32, 64, 128]
    assert any("interior best 64 after 3 doubling(s)" in n for n in found.notes)


def test_the_extension_stops_at_its_cap_and_says_so() -> None:
    axes = GridAxes((0.0,), (0.0,), (0.0, 1.0, 2.0, 4.0, 8.0, 16.0), (GRADED,))
    many, seen = _counting(_repeat_peak(1024.0))
    found = search(many, axes, ns.INTERACTIONS, max_doublings=2)
    # 16 -> 32 -> 64, each better; 64 is at the edge with both doublings spent
    assert [w.repeat for w in seen][-2:] == [32, 64]
    assert found.best.repeat == 64.0
    assert any("still best at the edge after 2 doublings" in n for n in found.notes)
    # no extension: the grid's top, and the note that it is an edge
    many, seen = _counting(_repeat_peak(1024.0))
    found = search(many, axes, ns.INTERACTIONS, max_doublings=0)
    assert found.best.repeat == 16.0 and len(seen) == 6
    assert any("top of its grid (no extension" in n for n in found.notes)


def test_every_shape_is_tried_at_a_new_repeat_weight_and_other_axes_hold_the_best() -> None:
    # the metric prefers the no-decay shape, more repeat, and neighbour 0.5 (interior); trend 0
    def metric(w):
        shape = 0.5 if w.repeat_shape == NO_DECAY else 0.0
        return shape + min(w.repeat, 40.0) / 10 - (w.neighbour - 0.5) ** 2 - w.trend

    axes = GridAxes((0.0, 0.5, 1.0), (0.0, 1.0), (0.0, 8.0, 16.0), (GRADED, NO_DECAY))
    many, seen = _counting(metric)
    found = search(many, axes, ns.INTERACTIONS, max_doublings=3)
    grid = 3 * 2 * (1 + 2 * 2)
    # best of the grid (0.5, 0, 16, no decay): 2.1; then at (0.5, 0) with both shapes: 32 (3.7),
    # 64 (4.5: the metric stops growing at 40), 128 (4.5, a tie: the smaller 64 stays, interior)
    extra = [(w.neighbour, w.trend, w.repeat, w.repeat_shape) for w in seen[grid:]]
    assert extra == [(0.5, 0.0, r, s) for r in (32.0, 64.0, 128.0) for s in (GRADED, NO_DECAY)]
    assert (found.best.neighbour, found.best.trend, found.best.repeat) == (0.5, 0.0, 64.0)
    assert found.best.repeat_shape == NO_DECAY


def test_two_axes_at_their_top_grow_one_value_each_per_round() -> None:
    # metric n + t, grids (0, 1) x (0, 1), one doubling each: the best (1, 1) sits on both tops;
    # round 1 tries (2, 1) and (1, 2), both 3: the tie goes to the smaller neighbour weight, (1, 2),
    # whose trend is at the new top but has no doubling left; its neighbour 1 is interior now
    many, seen = _counting(lambda w: w.neighbour + w.trend)
    found = search(many, GridAxes((0.0, 1.0), (0.0, 1.0)), ns.PURCHASES, max_doublings=1)
    assert [(w.neighbour, w.trend) for w in seen] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (1, 2)]
    assert (found.best.neighbour, found.best.trend) == (1.0, 2.0)
    assert any("trend weight 2 still best at the edge" in n for n in found.notes)


def test_coarse_axes_and_fine_values_hand_worked() -> None:
    h = HybridConfig()
    coarse = GridAxes(h.neighbour_grid, h.trend_grid, h.repeat_grid).coarse(2)
    assert coarse.neighbour == (0.0, 0.1, 0.2, 0.5, 1.0)  # every other of 9, the last kept
    assert coarse.trend == (0.0, 0.2, 0.5, 1.0, 2.0, 3.0)  # every other of 10, plus the last
    assert coarse.repeat == (0.0, 2.0, 8.0, 16.0)
    assert GridAxes((0.0, 1.0), (0.0,)).coarse(1) == GridAxes((0.0, 1.0), (0.0,))
    # around 0.2 the coarse neighbours are 0.1 and 0.5: the full values strictly between them
    assert fine_values(h.neighbour_grid, coarse.neighbour, 0.2) == (0.15, 0.2, 0.3)
    # at an end: one side open
    assert fine_values(h.repeat_grid, coarse.repeat, 16.0) == (16.0,)
    assert fine_values(h.trend_grid, coarse.trend, 0.0) == (0.0, 0.1)
    with pytest.raises(ValueError, match="stride"):
        coarse.coarse(0)
    with pytest.raises(ValueError, match="axis trend"):
        GridAxes((0.0,), ())


def test_coarse_then_fine_finds_the_full_grid_argmax_of_a_unimodal_metric() -> None:
    """Separable and unimodal along each axis: the coarse best is next to the full best on every
    axis, so the fine box around it holds the full argmax -- here off the coarse grid on all
    three axes (0.3, 0.75, 4)."""
    h = HybridConfig()
    axes = GridAxes(h.neighbour_grid, h.trend_grid, h.repeat_grid, (GRADED, NO_DECAY))

    def metric(w):
        shape = 0.01 if w.repeat_shape == GRADED else 0.0
        return (shape - (w.neighbour - 0.3) ** 2 - (w.trend - 0.75) ** 2
                - (math.log2(1 + w.repeat) - math.log2(5)) ** 2)

    full_many, full_seen = _counting(metric)
    full = search(full_many, axes, ns.INTERACTIONS, stride=1, max_doublings=4)
    fine_many, fine_seen = _counting(metric)
    fine = search(fine_many, axes, ns.INTERACTIONS, stride=2, max_doublings=4)
    assert (full.best.neighbour, full.best.trend, full.best.repeat) == (0.3, 0.75, 4.0)
    assert fine.best == full.best and full.best.repeat_shape == GRADED
    assert len(full_seen) == 9 * 10 * (1 + 5 * 2) and len(fine_seen) < len(full_seen) / 3
    # the answer is the best of everything evaluated
    assert max(p["ndcg@10"] for p in fine.points) == metric(fine.best)
    assert len(fine.points) == len(fine_seen)  # each point evaluated once


def test_the_answer_is_the_best_evaluated_point_even_when_the_box_misses_the_grid_best() -> None:
    # two peaks along the neighbour axis: the coarse grid (0, 0.5, 1, 2) sees the lower one (1: 5);
    # the box around it (0.75, 1, 1.5) finds 1.5 (6) but never the isolated 0.25 (9)
    grid = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    scores = {0.0: 0.0, 0.25: 9.0, 0.5: 2.0, 0.75: 1.0, 1.0: 5.0, 1.5: 6.0, 2.0: 4.0}
    many, seen = _counting(lambda w: scores[w.neighbour])
    coarse = search(many, GridAxes(grid, (0.0,)), ns.PURCHASES, stride=2, max_doublings=4)
    assert [w.neighbour for w in seen] == [0.0, 0.5, 1.0, 2.0, 0.75, 1.5]
    assert coarse.best.neighbour == 1.5  # the best of what it searched
    assert max(p["ndcg@10"] for p in coarse.points) == 6.0
    many, _ = _counting(lambda w: scores[w.neighbour])
    assert search(many, GridAxes(grid, (0.0,)), ns.PURCHASES).best.neighbour == 0.25
    assert INDICATOR == coarse.best.repeat_shape


def test_the_search_settings_are_validated_by_name() -> None:
    from pydantic import ValidationError

    for field, bad in (("epoch_grid_stride", 0), ("grid_extensions", -1), ("grid_extensions", 21)):
        with pytest.raises(ValidationError, match=field):
            HybridConfig(**{field: bad})
    with pytest.raises(ValueError, match="extensions"):
        search(lambda pts: [{} for _ in pts], GridAxes((0.0,), (0.0,)), max_doublings=-1)
