"""Score fusion, personalisation and the BM25 index with its append segment (hand-worked)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fulcrum.core.search.engine import SearchSettings, prepare_query, rank
from fulcrum.core.search.fusion import Fusion, fuse, personalise
from fulcrum.core.search.lexical_index import LexicalIndex


def test_rrf_adds_weighted_reciprocal_ranks_of_both_lists() -> None:
    lexical = np.array([0.0, 3.0, 1.0, 0.0])  # lexical list: row 1 (rank 1), row 2 (rank 2)
    dense = np.array([0.9, 0.1, 0.5, 0.2])  # dense list: rows 0, 2, 3, 1
    rows, score = fuse(lexical, dense, Fusion("rrf", lexical_weight=0.5, rrf_k=1.0))
    # row 2: 0.5/(1+2) + 0.5/(1+2) = 1/3; row 1: 0.5/2 + 0.5/5 = 0.35; row 0: 0.5/2 = 0.25;
    # row 3: 0.5/(1+3) = 0.125
    assert rows.tolist() == [1, 2, 0, 3]
    assert score.tolist() == pytest.approx([0.35, 1 / 3, 0.25, 0.125])


def test_weighted_fusion_scales_bm25_by_its_maximum() -> None:
    lexical = np.array([0.0, 4.0, 2.0])
    dense = np.array([0.8, 0.2, 0.4])
    rows, score = fuse(lexical, dense, Fusion("weighted", lexical_weight=0.25))
    # row 0: 0.75*0.8 = 0.6; row 1: 0.25*1 + 0.75*0.2 = 0.4; row 2: 0.25*0.5 + 0.75*0.4 = 0.425
    assert rows.tolist() == [0, 2, 1] and score.tolist() == pytest.approx([0.6, 0.425, 0.4])


def test_blocked_rows_are_in_neither_list_and_depth_bounds_each_list() -> None:
    lexical = np.array([5.0, 4.0, 3.0, 0.0])
    dense = np.array([0.1, 0.2, 0.3, 0.9])
    blocked = np.array([True, False, False, False])
    rows, _ = fuse(lexical, dense, Fusion("rrf", depth=1), blocked)
    # lexical top 1 among rows 1..3: row 1; dense top 1: row 3
    assert sorted(rows.tolist()) == [1, 3]


def test_personalise_moves_an_item_by_at_most_its_share_of_the_spread() -> None:
    scores = np.array([1.0, 0.9, 0.5])
    out = personalise(scores, np.array([-1.0, 1.0, 1.0]), weight=0.1)
    # spread 0.5 -> at most +-0.05: the near-tie (1.0 vs 0.9) closes, the far one (0.5) cannot
    assert out.tolist() == pytest.approx([0.95, 0.95, 0.55])
    assert personalise(scores, np.ones(3), 0.0) is scores


def test_fusion_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="method"):
        Fusion("max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lexical_weight"):
        Fusion("rrf", lexical_weight=1.5)


TEXTS = ["red heart lamp", "blue star", "red star candle", "white heart t-light holder"]


def _bm25(tf: int, dl: int, avgdl: float, n: int, df: int, k1: float = 1.2, b: float = 0.75) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b + b * dl / avgdl))


def test_bm25_scores_are_lucene_bm25_over_analysed_terms() -> None:
    idx = LexicalIndex.build(TEXTS)
    terms, _ = idx.terms("hearts")
    assert terms == ["heart"]
    s = idx.scores(terms, len(TEXTS))
    # 4 docs, lengths 3, 2, 3, 6 (t-light -> t, light, tlight) -> avgdl 3.5; "heart" in docs 0, 3
    assert s[0] == pytest.approx(_bm25(1, 3, 3.5, 4, 2), rel=1e-5)
    assert s[3] == pytest.approx(_bm25(1, 6, 3.5, 4, 2), rel=1e-5)
    assert s[1] == 0 and s[2] == 0


def test_an_upserted_row_is_scored_as_a_rebuilt_index_would(tmp_path) -> None:
    idx = LexicalIndex.build(TEXTS)
    idx.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    grown = loaded.with_docs([4], ["heart of gold"], [None], 5)
    rebuilt = LexicalIndex.build([*TEXTS, "heart of gold"])
    terms, _ = grown.terms("heart")
    # every row sees the statistics of all five rows, exactly as after a rebuild
    assert grown.scores(terms, 5).tolist() == rebuilt.scores(terms, 5).tolist()
    # a replaced row is scored from its new text only
    changed = loaded.with_docs([1], ["heart pillow"], [TEXTS[1]], 4)
    assert changed.scores(changed.terms("star")[0], 4)[1] == 0.0
    assert changed.scores(changed.terms("pillow")[0], 4)[1] > 0.0
    # the index it grew from is unchanged (a request holding the older snapshot)
    assert loaded.scores(terms, 4).tolist() == idx.scores(terms, 4).tolist()


def test_engine_rank_finds_a_misspelt_word_lexically() -> None:
    idx = LexicalIndex.build(TEXTS)
    prepared = prepare_query(idx, "candel")
    assert prepared.corrections == ["candel->candle"] and prepared.dense_text == "candle"
    rows, scores = rank(idx, prepared, np.zeros(4), SearchSettings())
    assert rows[0] == 2 and np.all(np.diff(scores) <= 0)


def test_an_unknown_word_takes_the_nearest_catalogue_word_only_when_near_enough() -> None:
    from fulcrum.core.search.engine import with_stand_ins
    from fulcrum.core.search.synonyms import WordNeighbours

    idx = LexicalIndex.build(["silver jewellery box", "wooden box", "red heart"])
    prepared = prepare_query(idx, "bijou box")
    assert prepared.unknown == ["bijou"] and prepared.terms == ["bijou", "box"]
    # catalogue words in a toy 2-d space: jewellery at (1, 0), heart at (0, 1)
    near = WordNeighbours(["jewellery", "heart"], np.array([[1.0, 0.0], [0.0, 1.0]]), min_cosine=0.9)
    assert near.nearest(np.array([0.95, 0.312])) == "jewellery"  # cosine 0.95
    assert near.nearest(np.array([0.8, 0.6])) is None  # cosine 0.8: related, not the same
    swapped = with_stand_ins(idx, prepared, {"bijou": "jewellery"})
    assert swapped.terms == ["jewellery", "box"] and swapped.unknown == []
    assert swapped.dense_text == "bijou box" and swapped.corrections == ["bijou~>jewellery"]
    rows, _ = rank(idx, swapped, np.zeros(3), SearchSettings())
    assert rows[0] == 0  # the jewellery box, lexically


def test_word_coverage_counts_each_query_word_once_and_follows_replaced_rows() -> None:
    idx = LexicalIndex.build(["red heart lamp", "red star", "white t-light holder"])
    prepared = prepare_query(idx, "red hearts t-light")
    # words: red -> [red]; hearts -> [heart]; t-light -> [t, light, tlight]
    assert prepared.groups == [["red"], ["heart"], ["t", "light", "tlight"]]
    assert idx.coverage(prepared.groups, 3).tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    # row 1 replaced by "blue heart": red no longer counts, heart does
    changed = idx.with_docs([1], ["blue heart"], ["red star"], 3)
    assert changed.coverage(prepared.groups, 3).tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert changed.coverage([["blue"]], 3).tolist() == [0.0, 1.0, 0.0]
    # fusion adds coverage_weight x coverage: dense ties broken by the words an item names
    rows, scores = fuse(np.zeros(3), np.zeros(3), Fusion("weighted", 0.0, coverage_weight=0.3),
                        coverage=np.array([0.0, 1.0, 0.5]))  # fmt: skip
    assert rows.tolist() == [1, 2, 0] and scores.tolist() == pytest.approx([0.3, 0.15, 0.0])


def test_an_unknown_modifier_before_a_known_head_reads_as_the_nearest_catalogue_compound() -> None:
    from fulcrum.core.search.engine import with_compound_stand_in
    from fulcrum.core.search.synonyms import WordNeighbours

    texts = ["rose washbag", "gold handbag", "red shopper bag", "wash bowl", "hand cream"]
    idx = LexicalIndex.build(texts)
    # compounds of catalogue words: washbag = wash + bag, handbag = hand + bag
    assert idx.compounds.headed_by("bag") == ["handbag", "washbag"]
    prepared = prepare_query(idx, "toiletry bag")
    assert prepared.unknown == ["toiletry"]
    # toy 2-d search space: washbag at (1, 0), handbag at (0, 1); the query leans to washbag
    words = WordNeighbours(["washbag", "handbag"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    swapped = with_compound_stand_in(idx, prepared, words, np.array([0.8, 0.6]))
    assert swapped.terms == ["washbag"] and swapped.unknown == []
    assert swapped.corrections == ["toiletry bag~>washbag"] and swapped.dense_text == "toiletry bag"
    rows, _ = rank(idx, swapped, np.zeros(5), SearchSettings())
    assert rows[0] == 0  # the washbag, by coverage
    # leaning the other way picks the handbag; a head without compounds changes nothing
    assert with_compound_stand_in(idx, prepared, words, np.array([0.1, 0.9])).terms == ["handbag"]
    lone = prepare_query(idx, "toiletry bowl")
    assert with_compound_stand_in(idx, lone, words, np.array([0.8, 0.6])) is lone
    # no word vectors (a bundle without them): unchanged
    assert with_compound_stand_in(idx, prepared, None, np.array([0.8, 0.6])) is prepared


def test_idf_coverage_weighs_rare_words_more() -> None:
    idx = LexicalIndex.build(["pink cup", "pink plate", "pink bowl", "blue napkin"])
    groups = prepare_query(idx, "pink napkin").groups
    assert idx.coverage(groups, 4).tolist() == [0.5, 0.5, 0.5, 0.5]
    # idf ln(1 + (N - n + 0.5) / (n + 0.5)): pink n=3 -> ln(1 + 1.5/3.5); napkin n=1 -> ln(1 + 3.5/1.5)
    pink, napkin = np.log(1 + 1.5 / 3.5), np.log(1 + 3.5 / 1.5)
    share = napkin / (pink + napkin)
    assert idx.coverage(groups, 4, idf=True).tolist() == pytest.approx([1 - share] * 3 + [share])
