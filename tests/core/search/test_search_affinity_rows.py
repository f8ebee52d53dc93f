"""Personalised Search multiplies the user's vector with the fused candidates' vectors only
(online/server/search.py ``rows_affinity``), not with every catalogue row: the same rows in the
same order as with the [N] affinity, and the same scores up to float32 rounding (BLAS sums a
row's dot product in an order that depends on where the row sits in its blocks, so the last bit
of a cosine can differ between the two products)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from fulcrum.core.search.engine import SearchSettings, prepare_query, rank
from fulcrum.core.search.fusion import Fusion
from fulcrum.core.search.lexical_index import LexicalIndex
from online.server.search import rows_affinity

WORDS = "red blue heart star candle lamp glass jar wooden box paper lantern vintage set".split()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_candidate_affinity_ranks_exactly_as_the_whole_catalogue_affinity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, dim = 700, 384  # the demo's vector width
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 6)))) for _ in range(n)]
    index = LexicalIndex.build(texts)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    user = emb[rng.integers(0, n)] + 0.1 * rng.normal(size=dim).astype(np.float32)
    user /= np.linalg.norm(user)
    dense = (emb @ emb[rng.integers(0, n)]).astype(np.float64)
    blocked = rng.random(n) < 0.1
    for fusion in (Fusion(), Fusion(method="weighted", coverage_weight=0.2)):
        settings = SearchSettings(fusion=fusion, personalisation=0.3)
        for query in ("red heart", "glass jar lantern", "box"):
            prepared = prepare_query(index, query)
            whole = rank(index, prepared, dense, settings, blocked, emb @ user)
            rows = rank(index, prepared, dense, settings, blocked, partial(rows_affinity, emb, user))
            assert whole[0].tolist() == rows[0].tolist()
            np.testing.assert_allclose(rows[1], whole[1], rtol=1e-6, atol=1e-7)
            assert len(rows[0]) > 0
