"""`fulcrum learn-search-log` on a small fixture log: the adapter learns which item shoppers
choose after a query, is kept only because the held-out (newest) searches improve, ships in a
new bundle that serving loads, and Search then ranks the chosen item higher."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core.search.engine import SearchSettings
from fulcrum.core.search.fusion import Fusion
from offline.export.synthetic_data import synthetic_words


def _log(bundle, path):
    ids = pd.read_parquet(bundle / "items.parquet")["item_id"].astype(str).tolist()
    words = synthetic_words()
    # ten made-up queries, each always followed by the choice of one fixed, unrelated item
    pairs = [(f"{words[k]} {words[-1 - k]} gift", ids[(7 * k + 3) % len(ids)]) for k in range(10)]
    rows = []
    for rep in range(10):
        for k, (query, item) in enumerate(pairs):
            rows.append({"query": query, "item_id": item, "timestamp": f"2024-03-{rep + 1:02d}T10:{k:02d}:00",
                         "action": "click"})  # fmt: skip
    rows.append({"query": "", "item_id": ids[0], "timestamp": "2024-03-01T00:00:00", "action": "click"})
    unknown = {"query": "x", "item_id": "no-such-item", "timestamp": "2024-03-01T00:00:00", "action": "buy"}
    rows.append(unknown)
    pd.DataFrame(rows).to_csv(path, index=False)
    return pairs


def _rank_of(system, query, item):
    found = system.search(query, 50)
    return found.index(item) + 1 if item in found else 99


def test_learn_search_log_ships_an_adapter_that_search_uses(tiny_bundle, tmp_path):
    from fulcrum.core.bundle.loader import load_bundle
    from offline.search_eval.systems import FulcrumSearch

    pairs = _log(tiny_bundle, tmp_path / "log.csv")
    result = CliRunner().invoke(app, [
        "learn-search-log", "--bundle", str(tiny_bundle), "--log", str(tmp_path / "log.csv"),
        "--out", str(tmp_path / "bundles"), "--epochs", "60",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dropped 1 empty queries, 1 unknown items" in result.output
    new = (tmp_path / "bundles" / "LATEST").resolve()
    assert load_bundle(new, execution_provider="cpu", intra_op_threads=1).catalogue.query_adapter is not None

    dense_only = SearchSettings(fusion=Fusion("weighted", 0.0))
    before = FulcrumSearch(tiny_bundle, dense_only)
    after = FulcrumSearch(new, dense_only)
    ranks_before = [_rank_of(before, q, i) for q, i in pairs]
    ranks_after = [_rank_of(after, q, i) for q, i in pairs]
    assert sum(ranks_after) < sum(ranks_before), (ranks_before, ranks_after)


def test_a_log_without_the_required_columns_is_refused(tiny_bundle, tmp_path):
    (tmp_path / "log.csv").write_text("query,item\nred heart,I001\n")
    result = CliRunner().invoke(app, [
        "learn-search-log", "--bundle", str(tiny_bundle), "--log", str(tmp_path / "log.csv"),
        "--out", str(tmp_path / "b"),
    ])  # fmt: skip
    assert result.exit_code == 2 and "missing column(s)" in result.output
