"""What the demo shows, over gRPC only: recommendations before and after new purchases arrive,
Search, a cold-start user, the model in service, the evaluation table and where the report is.

The pure parts (choosing customers, marking rows, counting re-recommended purchases) are
separate functions with hand-worked tests (tests/app/test_demo_helpers.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

SEARCH_QUERIES = ("red heart", "christmas lights", "tea set")
COLD_USER = "demo-newcomer-0001"
REASONS = {
    0: "?",
    1: "personalised",
    2: "exploration",
    3: "cold start",
    4: "popular",
    5: "query match",
    6: "new item",
}


# ---- pure helpers -----------------------------------------------------------------------------


def choose_customers(
    before: Mapping[str, Sequence[str]], bought: Mapping[str, Sequence[str]], n: int = 3
) -> list[str]:
    """Customers whose BEFORE list holds most of what they then bought (anti-recommendation is
    visible only for those); ties by more purchases, then by id. Customers with no overlap come
    last, so there are always ``n`` when ``n`` customers exist."""

    def key(user: str) -> tuple[int, int, str]:
        overlap = len(set(before[user]) & set(bought.get(user, ())))
        return (-overlap, -len(bought.get(user, ())), user)

    return sorted(before, key=key)[:n]


def reappeared(after: Sequence[str], bought: Sequence[str]) -> list[str]:
    """Items bought in the replayed period that are still recommended afterwards."""
    got = set(bought)
    return [i for i in after if i in got]


def before_after_rows(
    before: Sequence[str], after: Sequence[str], bought: Sequence[str], text: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """Rows (rank, BEFORE cell, AFTER cell): a BEFORE item since bought is struck through and
    marked "bought"; an AFTER item that was not in BEFORE is marked "new"."""
    got, was = set(bought), set(before)
    rows = []
    for r in range(max(len(before), len(after))):
        b = before[r] if r < len(before) else None
        a = after[r] if r < len(after) else None
        b_cell = (
            ""
            if b is None
            else (f"[strike]{_label(b, text)}[/strike] [red]bought[/red]" if b in got else _label(b, text))
        )
        a_cell = (
            ""
            if a is None
            else (f"{_label(a, text)} [green]new[/green]" if a not in was else _label(a, text))
        )
        rows.append((str(r + 1), b_cell, a_cell))
    return rows


def _label(item: str, text: Mapping[str, str], width: int = 38) -> str:
    t = text.get(item, "") or ""
    t = t if len(t) <= width else t[: width - 1] + "…"
    return f"{item} {t.lower()}".strip()


# ---- gRPC calls -------------------------------------------------------------------------------


def recommend(stub, user: str, k: int = 10, seed: int = 7, exploration: float = 0.0):
    from fulcrum.v1 import recommender_pb2 as pb

    options = pb.RecommendOptions(exploration_share=exploration, seed=seed)
    return stub.Recommend(pb.RecommendRequest(user_id=user, k=k, options=options), timeout=10.0)


def recommend_many(stub, users: Sequence[str], k: int = 10) -> dict[str, list[str]]:
    return {u: [x.item_id for x in recommend(stub, u, k).items] for u in users}


def item_texts(bundle: Path) -> dict[str, str]:
    import pandas as pd

    from fulcrum.core import bundle_format as bf

    items = pd.read_parquet(Path(bundle) / bf.ITEMS, columns=["item_id", "text"])
    return dict(zip(items["item_id"].astype(str), items["text"].fillna("").astype(str), strict=True))


# ---- printing ---------------------------------------------------------------------------------


def show_before_after(
    console,
    customers: Sequence[str],
    before: Mapping[str, Sequence[str]],
    after: Mapping[str, Sequence[str]],
    bought: Mapping[str, Sequence[str]],
    text: Mapping[str, str],
    door: str = "IngestEvents",
) -> int:
    """One table per customer; returns how many purchased items were recommended again."""
    from rich.table import Table

    from fulcrum.core.tables import print_table

    again = 0
    for user in customers:
        got = bought.get(user, [])
        hits = [i for i in before[user] if i in set(got)]
        table = Table(
            title=f"customer {user}: bought {len(got)} items in the replayed period, "
            f"{len(hits)} of them were in the BEFORE list",
            title_justify="left",
        )
        table.add_column("#", justify="right")
        table.add_column("BEFORE the new purchases")
        table.add_column(f"AFTER (events applied via {door})")
        for row in before_after_rows(before[user], after[user], got, text):
            table.add_row(*row)
        print_table(console, table)
        back = reappeared(after[user], got)
        again += len(back)
        if back:
            console.print(f"  [red]still recommended after purchase: {back}[/red]")
    return again


def show_search(
    console, stub, text: Mapping[str, str], queries: Sequence[str] = SEARCH_QUERIES, k: int = 5
) -> None:
    from rich.table import Table

    from fulcrum.core.tables import print_table
    from fulcrum.v1 import recommender_pb2 as pb

    for q in queries:
        reply = stub.Search(pb.SearchRequest(query=q, k=k), timeout=10.0)
        table = Table(title=f'Search "{q}"', title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("item")
        table.add_column("score", justify="right")
        table.add_column("reason")
        for r, x in enumerate(reply.items, start=1):
            table.add_row(
                str(r), _label(x.item_id, text, 50), f"{x.score:.3f}", REASONS.get(x.reason, str(x.reason))
            )
        print_table(console, table)


def show_cold_start(console, stub, text: Mapping[str, str], k: int = 8) -> None:
    from rich.table import Table

    from fulcrum.core.tables import print_table

    reply = recommend(stub, COLD_USER, k=k, seed=11, exploration=0.25)
    table = Table(
        title=f"cold-start user {COLD_USER!r} (no history; 25 % exploration slots)", title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("reason")
    for r, x in enumerate(reply.items, start=1):
        table.add_row(str(r), _label(x.item_id, text, 50), REASONS.get(x.reason, str(x.reason)))
    print_table(console, table)
    if reply.degraded:
        console.print(f"  [yellow]degraded: {reply.degraded_reason}[/yellow]")


def show_model_info(console, stub) -> dict:
    from fulcrum.v1 import recommender_pb2 as pb

    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10.0)
    console.print(
        f"serving bundle [bold]{info.bundle_version}[/bold] ({info.catalogue_size:,} items, "
        f"{info.execution_provider}) from {info.bundle_path}"
    )
    return {"version": info.bundle_version, "provider": info.execution_provider}


def evaluation_source(results_json: Path, bundle: Path | None = None) -> Path | None:
    """The bundle report's metrics.json (model + baselines; written next to ``results_json`` by
    `fulcrum evaluate --bundle --out`, or in the bundle's report/ folder by default) when present,
    else `fulcrum evaluate`'s results.json (baselines only), else None."""
    bundle = bundle if bundle is not None else Path(results_json).parent.parent / "bundles" / "LATEST"
    candidates = (
        Path(results_json).parent / "metrics.json",
        Path(bundle) / "report" / "metrics.json",
        Path(results_json),
    )
    for path in candidates:
        if path.is_file():
            return path
    return None


def evaluation_rows(doc: dict) -> list[tuple[str, dict, dict]]:
    """(name, warm metrics, cold metrics) from either file format: the bundle report
    (``recommenders``) or `fulcrum evaluate`'s results.json (``results``)."""
    entries = doc.get("recommenders") or doc.get("results") or {}
    rows = []
    for name, entry in entries.items():
        m = entry.get("metrics", entry)
        rows.append((name, m.get("warm", {}), m.get("cold", {})))
    return rows


def show_evaluation(console, results_json: Path, bundle: Path | None = None) -> None:
    """The evaluation table (test split, warm users, discovery): model vs baselines."""
    from rich.table import Table

    from fulcrum.core.tables import print_table

    source = evaluation_source(results_json, bundle)
    if source is None:
        console.print(
            f"[yellow]not available: evaluation results ({results_json}; the evaluate step did "
            f"not run)[/yellow]"
        )
        return
    doc = json.loads(source.read_text())
    table = Table(title=f"OR-temporal, test split, warm users (discovery) - {source}", title_justify="left")
    cols = ("ndcg@10", "recall@10", "hit_rate@10", "coverage@10", "tail_share@10")
    heads = ("NDCG@10", "Rec@10", "Hit@10", "cov@10", "tail@10")
    table.add_column("recommender", no_wrap=True)
    for h in heads:
        table.add_column(h, justify="right")
    table.add_column("cold Rec@10", justify="right")
    for name, warm, cold in evaluation_rows(doc):
        table.add_row(
            name,
            *(f"{warm[c]:.4f}" if c in warm else "" for c in cols),
            f"{cold['recall@10']:.4f}" if "recall@10" in cold else "",
        )
    print_table(console, table)
    best = (doc.get("tradeoff") or {}).get("best")
    if best:
        console.print(
            f"re-rank trade-off, best of grid on test (a picture, not a choice): tail share@10 "
            f"{best.get('tail_share@10', 0):.3f} at NDCG@10 {best.get('ndcg@10', 0):.4f} (boost "
            f"{best.get('boost')}, MMR {best.get('mmr_weight')}); the server's ordering defaults were "
            "chosen on validation (fulcrum/core/serving_defaults.py), per shop: `fulcrum choose-serving`"
        )


def report_files(*folders: Path) -> list[Path]:
    """report.md, metrics.json, results.json and PNG plots found in ``folders`` (one level deep)."""
    out: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for pattern in ("report.md", "metrics.json", "results.json", "*.png", "report/*"):
            out += sorted(p for p in folder.glob(pattern) if p not in out)
    return out
