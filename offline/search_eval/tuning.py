"""Choose Search's fusion on the validation queries only (the rest report the result).

Rule: the best mean NDCG@10 on the validation queries, except that a point which uses both the
dense ranking and lexical evidence (BM25 or word coverage; ``uses_both``) is preferred to a
one-sided one scoring at most ``HYBRID_MARGIN`` better. A handful of validation queries cannot
tell differences of a few thousandths apart, and a one-sided ranker fails whole query classes
another shop has (product codes and brand names the dense space does not know; paraphrases
BM25 cannot match).
Remaining ties go to the earlier grid point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from fulcrum.core.search.engine import SearchSettings
from fulcrum.core.search.fusion import Fusion
from offline.search_eval.judged import JudgedQuery
from offline.search_eval.metrics import ndcg_at_k

#: the candidates: reciprocal rank fusion at three k and five lexical weights, and weighted
#: score fusion at six lexical weights (the dense-only and lexical-only ends included), each
#: weighted point also with a word-coverage term of 0.1, 0.2 or 0.3, each word counting
#: equally or by its idf
GRID: tuple[Fusion, ...] = (
    tuple(Fusion("rrf", w, k) for k in (10.0, 30.0, 60.0) for w in (0.3, 0.4, 0.5, 0.6, 0.7))
    + tuple(Fusion("weighted", w) for w in (0.0, 0.2, 0.3, 0.4, 0.5, 1.0))
    + tuple(
        Fusion("weighted", w, coverage_weight=c, coverage_idf=idf)
        for idf in (False, True)
        for c in (0.1, 0.2, 0.3)
        for w in (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)
    )
)


def uses_both(fusion: Fusion) -> bool:
    """Does the point rank by the dense space and by lexical evidence (BM25 or word coverage)?"""
    if fusion.method == "rrf":
        return 0.0 < fusion.lexical_weight < 1.0
    return fusion.lexical_weight < 1.0 and (fusion.lexical_weight > 0.0 or fusion.coverage_weight > 0.0)


HYBRID_MARGIN = 0.01


def pick(table: Sequence[dict], margin: float = HYBRID_MARGIN) -> int:
    """Index of the chosen row of ``table`` (rows: ``validation_ndcg@10``, ``hybrid``)."""
    scores = np.array([r["validation_ndcg@10"] for r in table])
    best = int(np.argmax(scores))  # first of equal maxima
    hybrid = [i for i, r in enumerate(table) if r["hybrid"] and scores[i] >= scores[best] - margin - 1e-12]
    if table[best]["hybrid"] or not hybrid:
        return best
    return max(hybrid, key=lambda i: (scores[i], -i))


def choose_fusion(
    system, validation: Sequence[JudgedQuery], base: SearchSettings
) -> tuple[SearchSettings, list[dict]]:
    """The chosen settings (see the module doc) and every grid point's validation score."""
    if not validation:
        raise ValueError("no validation queries: raise --validation-fraction or pass --fusion")
    table, candidates = [], []
    for dense_only in (True, False):
        for fusion in GRID:
            settings = replace(base, fusion=fusion, dense_only_for_unknown_words=dense_only)
            sys_ = system.with_settings(settings)
            score = float(np.mean([ndcg_at_k(sys_.search(q.query, 10), q.grades, 10) for q in validation]))
            table.append(
                {
                    "fusion": fusion.describe(),
                    "dense_only_for_unknown_words": dense_only,
                    "hybrid": uses_both(fusion),
                    "validation_ndcg@10": score,
                }
            )
            candidates.append(settings)
    chosen = pick(table)
    table[chosen]["chosen"] = True
    return candidates[chosen], table
