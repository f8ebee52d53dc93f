"""The graded repeat term's offline parts for the validation grid (fulcrum/core/repeat_term.py has
the term itself): the shapes the config asks to search, and the term of a validation slice's
profile (item ids: rows as strings) over the catalogue rows."""

from __future__ import annotations

from itertools import product

import numpy as np

from fulcrum.core.repeat_term import RepeatShape, profile_strengths, repeat_vector


def own_vector(profile, shape: RepeatShape, n: int) -> np.ndarray:
    """[n] the repeat term of a slice profile (item ids: rows as strings, offline/model/
    slice_sources.py) under ``shape``: fulcrum/core/repeat_term.py, as serving computes it."""
    strengths = profile_strengths(profile, shape)
    rows = np.fromiter((int(i) for i in strengths), dtype=np.int64, count=len(strengths))
    return repeat_vector(rows, np.fromiter(strengths.values(), dtype=np.float64, count=len(strengths)), n)


def repeat_shapes(h) -> tuple[RepeatShape, ...]:
    """The graded repeat shapes of the config's ``retrieval.hybrid`` grids (half-life x engaged
    weight), shorter half-lives and smaller weights first; 0 = no decay sorts first."""
    return tuple(RepeatShape(True, float(a), float(b))
                 for a, b in product(sorted(h.repeat_half_life_grid), sorted(h.repeat_engaged_grid)))
