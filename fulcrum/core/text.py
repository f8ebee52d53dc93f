"""Item and query text rendering: the one definition both training and serving use."""

from __future__ import annotations

import re

#: Recorded in the bundle manifest so serving renders exactly as training did.
ITEM_TEXT_TEMPLATE = "{text}"
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")


def normalise_text(text: str | None) -> str:
    """Collapse whitespace and lower-case; None and blanks become the empty string."""
    if not text:
        return ""
    return _SPACES.sub(" ", str(text)).strip().lower()


def render_item_text(text: str | None, template: str = ITEM_TEXT_TEMPLATE) -> str:
    """The string the item encoder sees for an item."""
    return template.format(text=normalise_text(text))


def render_query_text(query: str) -> str:
    """The string the query encoder sees for a search query (same tower as items)."""
    return normalise_text(query)


def words(text: str | None) -> frozenset[str]:
    """The distinct lower-cased words (letter/digit runs) of a text: Search's lexical match."""
    return frozenset(_WORD.findall(normalise_text(text)))
