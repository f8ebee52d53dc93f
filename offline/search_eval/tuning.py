"""Choose Search's fusion on the validation queries only (the rest report the result)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from fulcrum.core.search.engine import SearchSettings
from fulcrum.core.search.fusion import Fusion
from offline.search_eval.judged import JudgedQuery
from offline.search_eval.metrics import ndcg_at_k

#: the candidates: reciprocal rank fusion at three k and five lexical weights, and weighted
#: score fusion at six lexical weights (the dense-only and lexical-only ends included)
GRID: tuple[Fusion, ...] = tuple(
    Fusion("rrf", w, k) for k in (10.0, 30.0, 60.0) for w in (0.3, 0.4, 0.5, 0.6, 0.7)
) + tuple(Fusion("weighted", w) for w in (0.0, 0.2, 0.3, 0.4, 0.5, 1.0))


def choose_fusion(
    system, validation: Sequence[JudgedQuery], base: SearchSettings
) -> tuple[Fusion, list[dict]]:
    """The grid point with the best mean NDCG@10 on ``validation`` (ties: the earlier point,
    RRF before weighted); returns it and every point's score."""
    if not validation:
        raise ValueError("no validation queries: raise --validation-fraction or pass --fusion")
    table = []
    best, best_score = GRID[0], -1.0
    for fusion in GRID:
        sys_ = system.with_settings(replace(base, fusion=fusion))
        score = float(np.mean([ndcg_at_k(sys_.search(q.query, 10), q.grades, 10) for q in validation]))
        table.append({"fusion": fusion.describe(), "validation_ndcg@10": score})
        if score > best_score + 1e-12:
            best, best_score = fusion, score
    return best, table
