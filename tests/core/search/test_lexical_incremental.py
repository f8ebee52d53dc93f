"""The lexical index grown by upserts answers exactly as one rebuilt from scratch over the same
texts: postings, BM25 scores (bit for bit), coverage, the speller's corrections, the compound
table and the word counts -- after random upserts of new items and of changed texts, including
words that appear and vanish; and every older index keeps answering as it did."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core.search.compounds import Compounds
from fulcrum.core.search.engine import SearchSettings, prepare_query, rank
from fulcrum.core.search.lexical_index import LegacyIndexFolder, LexicalIndex
from fulcrum.core.search.spelling import Speller

#: compound parts and compounds (wash + bag, door + mat, tea + pot...), plural forms, words one
#: edit apart (candle/handle), hyphenated and numeric words
WORDS = (
    "wash bag washbag door mat doormat tea pot teapot teapots cup cups cupcake cake red blue "
    "heart hearts star stars candle candles handle lamp t-light holder 6 set of glass jar "
    "jars bottle bird house birdhouse vintage retro cushion cover cotton lantern paper"
).split()
QUERIES = [
    "washbag", "wash bag", "red heart", "tea pot", "teapots", "candel", "hert lamp", "cupcakes",
    "birdhouse", "bird house", "set of 6 glass jars", "vintage doormat", "t-light", "zzz", "cover",
]


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(0, 8))))


def _same(a: LexicalIndex, b: LexicalIndex, n: int) -> None:
    """Every answer of ``a`` equals ``b``'s."""
    assert dict(a.words) == dict(b.words)
    assert sorted(a.vocab.keys()) == sorted(b.vocab.keys())
    for term in b.vocab.keys():
        for got, want in zip(a.vocab[term], b.vocab[term], strict=True):
            assert got.tolist() == want.tolist(), term
    assert (a.postings.n_docs, a.postings.total_len) == (b.postings.n_docs, b.postings.total_len)
    assert dict(a.speller.frequencies) == dict(b.speller.frequencies)
    table_a, table_b = a.speller._table, b.speller._table
    assert {k: sorted(v) for k, v in table_a.items()} == {k: sorted(v) for k, v in table_b.items()}
    assert dict(a.compounds.by_head) == dict(b.compounds.by_head)
    assert dict(a.compounds.surface) == dict(b.compounds.surface)
    assert sorted(a.compounds.terms.keys()) == sorted(b.compounds.terms.keys())
    dense = np.linspace(0.0, 0.2, n)
    for query in QUERIES:
        assert a.terms(query) == b.terms(query), query
        terms, _ = b.terms(query)
        assert a.scores(terms, n).tolist() == b.scores(terms, n).tolist(), query
        prepared_a, prepared_b = prepare_query(a, query), prepare_query(b, query)
        assert prepared_a == prepared_b
        groups, rows = prepared_b.groups, np.arange(0, n, 3)
        assert a.coverage(groups, n).tolist() == b.coverage(groups, n).tolist()
        assert a.coverage(groups, n, idf=True).tolist() == b.coverage(groups, n, idf=True).tolist()
        assert a.coverage_at(groups, rows).tolist() == b.coverage_at(groups, rows).tolist()
        ra, sa = rank(a, prepared_a, dense, SearchSettings())
        rb, sb = rank(b, prepared_b, dense, SearchSettings())
        assert ra.tolist() == rb.tolist() and sa.tolist() == sb.tolist()  # same ids, scores, order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_upserts_answer_exactly_as_a_rebuild(seed: int, tmp_path) -> None:
    rng = np.random.default_rng(seed)
    texts = [_text(rng) for _ in range(30)]
    start = LexicalIndex.build(texts)
    start.save(tmp_path / "lex")
    index = LexicalIndex.load(tmp_path / "lex").warm()  # through the bundle files, as serving
    before = {q: index.scores(index.terms(q)[0], len(texts)).tolist() for q in QUERIES}
    first = index
    for _ in range(40):  # batches of new rows and changed texts, a row twice in one batch too
        rows, new_texts, old_texts = [], [], []
        n = len(texts)
        for _ in range(int(rng.integers(1, 5))):
            row = int(rng.integers(0, n + 2)) if rng.random() < 0.6 else n
            row = min(row, len(texts))
            text = _text(rng)
            rows.append(row)
            new_texts.append(text)
            old_texts.append(texts[row] if row < n else None)  # the text before this batch
            if row == len(texts):
                texts.append(text)
            else:
                texts[row] = text
        index = index.with_docs(rows, new_texts, old_texts, len(texts))
        _same(index, LexicalIndex.build(texts).warm(), len(texts))
    # the first index (an older catalogue snapshot) still answers as it did
    assert {q: first.scores(first.terms(q)[0], 30).tolist() for q in QUERIES} == before


def test_words_that_vanish_leave_the_speller_and_the_compounds() -> None:
    index = LexicalIndex.build(["wash bag", "door mat", "washbag"]).warm()
    assert index.compounds.headed_by("bag") == ["washbag"]
    assert index.speller.correct("wahs") == "wash"
    gone = index.with_docs([0], ["door"], ["wash bag"], 3)
    assert gone.compounds.headed_by("bag") == []  # "washbag" no longer splits: no "wash"
    assert gone.speller.correct("wahs") is None
    assert index.compounds.headed_by("bag") == ["washbag"]  # the older index is unchanged


def test_incremental_parts_equal_the_parts_made_from_scratch() -> None:
    speller = Speller({"heart": 5, "hearth": 1})
    grown = speller.with_words({"hearth": 0, "heard": 2})
    made = Speller({"heart": 5, "heard": 2})
    assert dict(grown.frequencies) == dict(made.frequencies)
    assert grown.correct("hearh") == made.correct("hearh") == "heart"
    table = Compounds(["tea", "pot"]).with_words(["teapot", "cup", "teacup"], [])
    assert dict(table.by_head) == dict(Compounds(["tea", "pot", "teapot", "cup", "teacup"]).by_head)
    assert table.headed_by("pot") == ["teapot"] and table.headed_by("cup") == ["teacup"]


def test_a_bm25s_folder_of_earlier_bundles_is_named(tmp_path) -> None:
    (tmp_path / "lexical.json").write_text('{"library": "bm25s", "rows": 3}')
    with pytest.raises(LegacyIndexFolder, match="bm25s"):
        LexicalIndex.load(tmp_path)
