"""Search's text analysis and spelling correction (hand-worked)."""

from __future__ import annotations

from fulcrum.core.search.analyzer import analyze, corrected_query, query_terms, singular
from fulcrum.core.search.spelling import Speller, within_one_edit


def test_singular_strips_plurals_by_suffix() -> None:
    assert [singular(w) for w in ("boxes", "berries", "bags", "glass", "cactus", "bus", "ies", "12")] == [
        "box", "berry", "bag", "glass", "cactus", "bus", "ies", "12",
    ]  # fmt: skip


def test_analyze_splits_compounds_and_numbers_and_keeps_joined_forms() -> None:
    # t-light -> t, light, tlight; 12pc -> 12, pc, 12pc; "three" -> 3; 003 -> 3; café -> cafe
    assert analyze("WHITE T-LIGHT Holders") == ["white", "t", "light", "tlight", "holder"]
    assert analyze("12pc set of three, 003 café") == ["12", "pc", "12pc", "set", "of", "3", "3", "cafe"]
    # the joined "childrens" loses its plural s: CHILDRENS and children meet
    assert analyze("children's") == ["children", "s", "children"]
    assert analyze(None) == [] and analyze("  ") == []


def test_query_terms_add_joined_and_abbreviated_pairs_only_when_the_index_has_them() -> None:
    vocab = {"tea", "light", "tlight", "holder"}
    terms, fixed = query_terms("Tea Lights holder", vocab)
    # "tea light" -> "tealight" (unknown: dropped), "tlight" (known: kept); "light holder" ->
    # "lightholder"/"lholder" unknown; each term once
    assert terms == ["tea", "light", "holder", "tlight"] and fixed == []
    assert query_terms("light light", vocab)[0] == ["light"]


def test_unknown_words_are_corrected_and_the_dense_text_follows() -> None:
    speller = Speller({"christmas": 40, "decoration": 30, "chrism": 1})
    terms, fixed = query_terms("chrismas decorations", {"christma", "decoration"}, speller.correct)
    assert fixed == ["chrismas->christmas"]
    assert terms == ["christma", "decoration"]
    assert corrected_query("Chrismas decorations", fixed) == "christmas decorations"


def test_speller_takes_the_most_frequent_word_one_edit_away() -> None:
    speller = Speller({"heart": 50, "hearth": 3, "cake": 9, "bake": 20, "lake": 20})
    assert speller.correct("hearts") == "heart"  # deletion of s (hearth is a substitution, rarer)
    assert speller.correct("haert") == "heart"  # swap of neighbours
    assert speller.correct("dake") == "bake"  # bake and lake tie at 20 -> alphabetical; cake rarer
    assert speller.correct("heart") is None  # known
    assert speller.correct("cak") is None  # shorter than 4 letters
    assert speller.correct("zzzzzz") is None  # nothing near


def test_within_one_edit() -> None:
    assert within_one_edit("abc", "abc") and within_one_edit("abc", "abd") and within_one_edit("abc", "ab")
    assert within_one_edit("abc", "acb") and within_one_edit("ab", "xab")
    assert not within_one_edit("abc", "cba") and not within_one_edit("abc", "a")
    assert not within_one_edit("ab", "ba c")


def test_national_spelling_variants_come_before_one_edit_corrections() -> None:
    from fulcrum.core.search.spelling import spelling_variants

    assert "colour" in spelling_variants("color") and "color" in spelling_variants("colour")
    assert "jewellery" in spelling_variants("jewelry")
    assert "centres" in spelling_variants("centers") and "catalogue" in spelling_variants("catalog")
    speller = Speller({"jewellery": 3, "colour": 2, "colon": 9, "centre": 1})
    assert speller.correct("jewelry") == "jewellery"  # two edits away, but a spelling variant
    assert speller.correct("color") == "colour"  # the variant wins over the more frequent colon
    assert speller.correct("center") == "centre"
    assert speller.correct("colour") is None  # known words are left alone


def test_a_word_written_from_two_catalogue_words_is_split() -> None:
    from fulcrum.core.search.compounds import Compounds
    from fulcrum.core.search.lexical_index import LexicalIndex

    words = {"wash": 2, "bag": 5, "tea": 3, "pots": 1, "bagel": 1, "doormat": 1, "door": 2, "mat": 1}
    table = Compounds(words)
    assert table.split("washbag") == ("wash", "bag")
    assert table.split("teapots") == ("tea", "pots")
    assert table.split("bag") is None and table.split("doormat") is None  # catalogue words
    assert table.split("teapot") is None  # six letters: too short to split (car + pet)
    assert table.split("bagels") is None  # known by its singular
    assert table.headed_by("mat") == ["doormat"] and table.headed_by("el") == []
    idx = LexicalIndex.build(["rose wash bag", "wash bowl", "red bag"])
    terms, corrections = idx.terms("washbags")
    assert corrections == ["washbags->wash bags"] and terms == ["wash", "bag"]
