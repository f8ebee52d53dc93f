"""`fulcrum evaluate-search` end to end on the tiny bundle: all three systems, the fusion chosen
on the validation queries, Markdown and JSON written, bad input refused with the file named."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from fulcrum.cli import app


def _judged(bundle, tmp_path):
    items = pd.read_parquet(bundle / "items.parquet")
    rows, grades = [], []
    for n, row in enumerate(items.head(8).itertuples()):
        qid = f"q{n}"
        rows.append({"query_id": qid, "query": str(row.text), "kind": "head" if n % 2 else "tail"})
        grades.append({"query_id": qid, "item_id": str(row.item_id), "grade": 3})
        grades.append({"query_id": qid, "item_id": str(items.item_id.iloc[-1 - n]), "grade": 1})
    pd.DataFrame(rows).to_csv(tmp_path / "queries.csv", index=False)
    pd.DataFrame(grades).to_csv(tmp_path / "judgments.csv", index=False)


def test_evaluate_search_writes_tables_for_all_systems(tiny_bundle, tmp_path):
    _judged(tiny_bundle, tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [
        "evaluate-search", "--bundle", str(tiny_bundle), "--queries", str(tmp_path / "queries.csv"),
        "--judgments", str(tmp_path / "judgments.csv"), "--out", str(out), "--validation-fraction", "0.5",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "search_eval.json").read_text())
    assert set(data["latency"]) == {"Fulcrum Search", "BM25", "MiniLM zero-shot"}
    n_val = len(data["validation_ids"])
    assert n_val + data["test_count"] == 8 and data["fusion"]["grid"]
    split = data["splits"]["all queries"]["systems"]["Fulcrum Search"]["summary"]
    assert set(split) == {"all", "tail", "head"} and split["all"]["ndcg@10"]["n"] == 8
    # each query's own text names its grade-3 item: BM25 ranks it first for every query
    bm25 = data["splits"]["all queries"]["systems"]["BM25"]["summary"]["all"]
    assert bm25["mrr"]["mean"] == 1.0 and bm25["zero_result"]["mean"] == 0.0
    assert "NDCG@10" in (out / "search_eval.md").read_text()


def test_evaluate_search_names_the_broken_file(tiny_bundle, tmp_path):
    _judged(tiny_bundle, tmp_path)
    (tmp_path / "judgments.csv").write_text("query_id,item_id,grade\nq0,x,good\n")
    result = CliRunner().invoke(app, [
        "evaluate-search", "--bundle", str(tiny_bundle), "--queries", str(tmp_path / "queries.csv"),
        "--judgments", str(tmp_path / "judgments.csv"), "--out", str(tmp_path / "r"), "--no-baselines",
    ])  # fmt: skip
    assert result.exit_code == 2 and "judgments.csv:2: grade 'good'" in result.output
