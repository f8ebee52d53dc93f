"""The generic judged-query format, read strictly.

- ``queries.csv``: ``query_id``, ``query`` and optionally ``kind`` (any label: head, tail, ...).
- ``judgments.csv``: ``query_id``, ``item_id``, ``grade`` (a number, higher = more relevant;
  the metrics use 2^grade - 1 as gain, grade >= 2 as relevant, grade 3 as exact).

Ids are read as strings (``84029E`` and ``00123`` stay what they are). A query without
judgments, a judgment of an unknown query, a duplicate pair, or a grade that is not a number
is an error naming the file and line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


class JudgedSetError(ValueError):
    pass


@dataclass(frozen=True)
class JudgedQuery:
    query_id: str
    query: str
    kind: str
    grades: dict[str, float]


def _read(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as e:
        raise JudgedSetError(f"{path}: file not found") from e
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise JudgedSetError(f"{path}: not a readable CSV ({e})") from e
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise JudgedSetError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    return frame


def load_judged(queries_csv: Path, judgments_csv: Path) -> list[JudgedQuery]:
    queries = _read(Path(queries_csv), ("query_id", "query"))
    judgments = _read(Path(judgments_csv), ("query_id", "item_id", "grade"))
    grades: dict[str, dict[str, float]] = {}
    for line, row in enumerate(judgments.itertuples(index=False), start=2):
        try:
            grade = float(row.grade)
        except ValueError as e:
            raise JudgedSetError(f"{judgments_csv}:{line}: grade {row.grade!r} is not a number") from e
        per = grades.setdefault(row.query_id.strip(), {})
        item = row.item_id.strip()
        if item in per:
            raise JudgedSetError(f"{judgments_csv}:{line}: ({row.query_id}, {item}) judged twice")
        per[item] = grade
    out: list[JudgedQuery] = []
    seen: set[str] = set()
    for line, row in enumerate(queries.to_dict("records"), start=2):
        qid = row["query_id"].strip()
        if not qid or not row["query"].strip():
            raise JudgedSetError(f"{queries_csv}:{line}: empty query_id or query")
        if qid in seen:
            raise JudgedSetError(f"{queries_csv}:{line}: query_id {qid} appears twice")
        seen.add(qid)
        if qid not in grades:
            raise JudgedSetError(f"{queries_csv}:{line}: query {qid} has no judgments in {judgments_csv}")
        out.append(JudgedQuery(qid, row["query"], (row.get("kind") or "").strip() or "all", grades[qid]))
    unknown = sorted(set(grades) - seen)
    if unknown:
        raise JudgedSetError(f"{judgments_csv}: judgments for unknown query ids {unknown[:5]}")
    return out


def is_validation(query_id: str, fraction: float) -> bool:
    """Deterministic split: the query's sha256 as a number in [0, 1) below ``fraction``."""
    h = int(hashlib.sha256(query_id.encode()).hexdigest()[:12], 16) / float(1 << 48)
    return h < fraction
