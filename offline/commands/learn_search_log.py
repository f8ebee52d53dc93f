"""`fulcrum learn-search-log`: fit Search's query side on a shop's search log.

    fulcrum learn-search-log --bundle artifacts/bundles/LATEST --log search_log.csv --out artifacts/bundles

Log format (docs/search.md): ``query, item_id, timestamp[, action]``. Writes a new bundle
(the input bundle plus ``search_query_adapter.npy``) only when the newest ``--holdout`` share
of the log is answered better (mean reciprocal rank of the chosen items); exit 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def learn_search_log(
    bundle: Annotated[Path, typer.Option(help="Bundle folder with a search space.")],
    log: Annotated[Path, typer.Option(help="Search log: query, item_id, timestamp[, action].")],
    out: Annotated[Path, typer.Option(help="Folder receiving the new <version>/ and LATEST.")],
    holdout: Annotated[float, typer.Option(help="Newest share of the log held out to judge.")] = 0.2,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training part.")] = 30,
) -> None:
    """Learn a query-side adapter from searches and the items chosen after them."""
    import json

    import numpy as np
    import pandas as pd

    from fulcrum.core.search import space
    from offline.search_eval.query_encoder import BundleQueryEncoder
    from offline.search_log.learn import fit_adapter, mrr, publish
    from offline.search_log.log import SearchLogError, read_search_log

    def fail(msg: str, code: int) -> None:
        typer.secho(f"error: {msg}", fg="red", err=True)
        raise typer.Exit(code)

    manifest_file = bundle / "manifest.json"
    if not manifest_file.is_file():
        fail(f"--bundle {bundle}: no manifest.json", 2)
    files = json.loads(manifest_file.read_text())["files"]
    if space.encoder_file(files) is None or space.ITEM_SEARCH_VECTORS not in files:
        fail(f"--bundle {bundle}: no search space (re-export the run with this version)", 2)
    if not 0.0 < holdout < 1.0:
        raise typer.BadParameter(f"{holdout} must be in (0, 1)", param_hint="--holdout")
    ids = pd.read_parquet(bundle / "items.parquet")["item_id"].astype(str).tolist()
    try:
        entries = read_search_log(log, {i: r for r, i in enumerate(ids)})
    except SearchLogError as e:
        fail(str(e), 2)
    n = len(entries.rows)
    cut = int(round(n * (1.0 - holdout)))
    if cut < 1 or n - cut < 1:
        fail(f"{log}: {n} usable rows: too few to train and hold out", 2)
    encoder = BundleQueryEncoder(bundle.resolve())
    vec_of = {q: encoder(q) for q in dict.fromkeys(entries.queries)}
    queries = np.stack([vec_of[q] for q in entries.queries])
    targets = np.asarray(entries.rows, dtype=np.int64)
    items = np.load(bundle / space.ITEM_SEARCH_VECTORS).astype(np.float32)
    w = fit_adapter(queries[:cut], targets[:cut], items, epochs=epochs)
    held_q, held_t = queries[cut:], targets[cut:]
    before, after = mrr(held_q, held_t, items, None), mrr(held_q, held_t, items, w)
    typer.echo(
        f"search log {log.name}: {n} rows used (dropped {entries.dropped_empty} empty queries, "
        f"{entries.dropped_unknown_item} unknown items); train {cut}, held out {n - cut} (newest)"
    )
    typer.echo(f"held-out MRR of the chosen items: {before:.4f} before, {after:.4f} after")
    if not after > before:
        fail("the adapter does not improve the held-out searches: no bundle written", 1)
    block = {"rows": n, "train_rows": cut, "holdout_rows": n - cut, "epochs": epochs,
             "holdout_mrr_before": before, "holdout_mrr_after": after}  # fmt: skip
    final = publish(bundle.resolve(), out, w, block)
    typer.echo(f"wrote {final}")
