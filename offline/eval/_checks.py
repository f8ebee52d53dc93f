"""Argument checks shared by the metric functions (kept tiny and private)."""

from __future__ import annotations


def check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")


def check_relevant(relevant) -> None:
    if not relevant:
        raise ValueError("relevant: must not be empty (users without targets are not evaluated)")
