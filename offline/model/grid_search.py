"""The search for the hybrid's weights on the validation slice: a grid, optionally coarse first and
refined around its best, always extended past an edge where its best sits.

The grid is (neighbour weight x trend weight x repeat weight x repeat shape), each weight axis a
sorted list of values >= 0 (``offline/train_config.py``, ``retrieval.hybrid.*_grid``).

- **Coarse, then fine** (``stride`` > 1): every ``stride``-th value of each weight axis (the first
  and the last always kept), every shape; then, around the coarse best, every full-grid value
  strictly between the coarse values next to the best on each axis (the best's own value
  included), every shape. On a metric that is unimodal along each axis the fine box holds the
  full grid's argmax; elsewhere it may miss it, so training uses it only to keep an epoch, and
  chooses the final weights on the full grid (``stride`` 1).
- **Edge extension** (``max_doublings`` > 0): while the best point's weight on an axis is that
  axis's largest value (and > 0), the axis grows by one value, twice its largest, tried at the
  best point's other weights (the repeat axis: with every shape); it stops at an interior best or
  after ``max_doublings`` values per axis, and says which (``SearchResult.notes``, logged). A best
  at the edge of a grid means the grid did not bracket the optimum (the Taobao sample's
  validation chose the repeat grid's top twice, 8 of 0-8, then 16 of 0-16).

The answer is the best point of everything evaluated (coarse, fine and extension points alike);
ties go to the smaller weights (neighbour, then trend, then repeat, then the shapes' order), the
same rule as one pass over the full grid in its order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from fulcrum.core.hybrid import HybridWeights
from fulcrum.core.neighbour_source import PURCHASES
from fulcrum.core.repeat_term import INDICATOR, RepeatShape

log = logging.getLogger(__name__)

#: the weight axes, in the tie-break order
AXES = ("neighbour", "trend", "repeat")

#: ``evaluate_many(points) -> metrics of each point, in order``
EvaluateMany = Callable[[Sequence[HybridWeights]], list[dict[str, float]]]


def grid_points(neighbour_grid: Sequence[float], trend_grid: Sequence[float],
                repeat_grid: Sequence[float] = (0.0,), source: str = PURCHASES,
                shapes: Sequence[RepeatShape] = (INDICATOR,)) -> list[HybridWeights]:
    """Every (neighbour, trend, repeat weight, repeat shape) of the grids, smaller weights first
    (a zero repeat weight once, as the indicator: the shape changes nothing there)."""
    return [
        HybridWeights(float(a), float(b), source, float(c), shape)
        for a, b, c in product(sorted(neighbour_grid), sorted(trend_grid), sorted(repeat_grid))
        for shape in ((INDICATOR,) if float(c) == 0 else shapes)
    ]


@dataclass(frozen=True)
class GridAxes:
    """The grid's axes: weight values (stored sorted, distinct) and the repeat shapes (in order)."""

    neighbour: tuple[float, ...]
    trend: tuple[float, ...]
    repeat: tuple[float, ...] = (0.0,)
    shapes: tuple[RepeatShape, ...] = (INDICATOR,)

    def __post_init__(self) -> None:
        for name in AXES:
            values = tuple(sorted({float(v) for v in getattr(self, name)}))
            if not values or values[0] < 0:
                raise ValueError(f"grid axis {name}: needs at least one value, all >= 0, got {values}")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "shapes", tuple(self.shapes))

    def points(self, source: str) -> list[HybridWeights]:
        return grid_points(self.neighbour, self.trend, self.repeat, source, self.shapes)

    def coarse(self, stride: int) -> GridAxes:
        """Every ``stride``-th value of each weight axis, the first and the last kept."""
        if stride < 1:
            raise ValueError(f"grid stride: must be >= 1, got {stride}")
        pick = {a: tuple(dict.fromkeys((*getattr(self, a)[::stride], getattr(self, a)[-1]))) for a in AXES}
        return GridAxes(pick["neighbour"], pick["trend"], pick["repeat"], self.shapes)


@dataclass
class SearchResult:
    best: HybridWeights
    #: every evaluated point's weights and metrics, smaller weights first
    points: list[dict[str, Any]]
    #: what the search did beyond the grid (fine box, extensions, a cap reached), for the log
    notes: list[str] = field(default_factory=list)


def weight_of(w: HybridWeights, axis: str) -> float:
    return float(getattr(w, axis))


def _with(w: HybridWeights, axis: str, value: float, shape: RepeatShape | None = None) -> HybridWeights:
    v = {a: weight_of(w, a) for a in AXES}
    v[axis] = float(value)
    sh = shape if shape is not None else w.repeat_shape
    return HybridWeights(v["neighbour"], v["trend"], w.neighbour_source, v["repeat"],
                         INDICATOR if v["repeat"] == 0 else sh)


def fine_values(full: Sequence[float], coarse: Sequence[float], at: float) -> tuple[float, ...]:
    """The full-grid values strictly between the coarse values next to ``at`` (``at`` included)."""
    lower = [c for c in coarse if c < at]
    upper = [c for c in coarse if c > at]
    lo, hi = (lower[-1] if lower else -float("inf")), (upper[0] if upper else float("inf"))
    return tuple(v for v in full if lo < v < hi) or (float(at),)


def search(evaluate_many: EvaluateMany, axes: GridAxes, source: str = PURCHASES, metric: str = "ndcg@10",
           stride: int = 1, max_doublings: int = 0) -> SearchResult:
    """The best point on validation of the searched set (module doc): the grid (coarse then fine
    when ``stride`` > 1), then edge extension up to ``max_doublings`` values per axis."""
    if max_doublings < 0:
        raise ValueError(f"grid extensions: must be >= 0, got {max_doublings}")
    scored: dict[HybridWeights, dict[str, float]] = {}
    notes: list[str] = []

    def run(points: Sequence[HybridWeights]) -> int:
        new = [w for w in dict.fromkeys(points) if w not in scored]
        if new:
            for w, m in zip(new, evaluate_many(new), strict=True):
                scored[w] = m
        return len(new)

    def rank(w: HybridWeights) -> tuple:
        shape = -1 if w.repeat == 0 else axes.shapes.index(w.repeat_shape)
        return (w.neighbour, w.trend, w.repeat, shape)

    def best() -> HybridWeights:
        out, top = None, -float("inf")
        for w in sorted(scored, key=rank):
            if scored[w].get(metric, 0.0) > top + 1e-12:
                out, top = w, scored[w].get(metric, 0.0)
        return out if out is not None else HybridWeights(neighbour_source=source)

    first = axes if stride == 1 else axes.coarse(stride)
    run(first.points(source))
    if stride > 1:
        b = best()
        box = GridAxes(*(fine_values(getattr(axes, a), getattr(first, a), weight_of(b, a)) for a in AXES),
                       shapes=axes.shapes)
        n = run(box.points(source))
        notes.append(f"coarse grid {len(first.points(source))} points, then {n} more around its best")
    tops = {a: getattr(axes, a)[-1] for a in AXES}
    grown = dict.fromkeys(AXES, 0)
    capped: set[str] = set()
    while True:
        b = best()
        edge = [a for a in AXES if tops[a] > 0 and weight_of(b, a) == tops[a] and a not in capped]
        if not edge:
            break
        for a in edge:
            if grown[a] >= max_doublings:
                capped.add(a)
                if max_doublings:
                    notes.append(f"{a} weight {tops[a]:g} still best at the edge after {grown[a]} doublings "
                                 f"(the cap, retrieval.hybrid.grid_extensions)")
                else:
                    notes.append(f"{a} weight {tops[a]:g} chosen at the top of its grid (no extension: "
                                 f"retrieval.hybrid.grid_extensions is 0)")
                continue
            tops[a] *= 2.0
            grown[a] += 1
            shapes = axes.shapes if a == "repeat" else (b.repeat_shape,)
            run([_with(b, a, tops[a], s) for s in shapes])
            notes.append(f"{a} weight {tops[a] / 2:g} was best at the top of its grid: tried {tops[a]:g}")
    chosen = best()
    for a in AXES:
        if grown[a] and a not in capped:
            notes.append(f"{a} weight: interior best {weight_of(chosen, a):g} after {grown[a]} doubling(s)")
    searched = axes.repeat != (0.0,)
    points = []
    for w in sorted(scored, key=rank):
        rw = {"repeat_weight": w.repeat, **w.repeat_shape.manifest_fields()} if searched else {}
        points.append({"neighbour_weight": w.neighbour, "trend_weight": w.trend, **rw, **scored[w]})
    return SearchResult(chosen, points, notes)
