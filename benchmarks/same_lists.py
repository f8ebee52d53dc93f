"""Do two source trees serve the same ranked lists? `python -m benchmarks.same_lists`.

Starts `fulcrum serve` from each tree (``--before DIR``: e.g. an exported older commit; the
current tree is the other side) on the same bundle and a copy each of the same Feast repo, sends
every one of ``--users`` warm users (drawn from the bundle's data) a seeded Recommend (default
knobs: exploration and MMR on, seed fixed), the same Recommend with a session item, a cold user,
and Search for a few queries (also personalised), twice (the second pass on warm caches), and
compares the replies item by item: ids and reasons exactly, scores to a relative 1e-5 (the user
encoder's input holds the events' ages at the time of the request, so one server's scores move
by a float32 rounding from one call to the next). Exits 1 naming the first difference.

    python -m benchmarks.same_lists --bundle artifacts/bundles/LATEST \
        --feature-repo artifacts/demo/feature_repo --before OLD_TREE [--users 200]
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import grpc
import pandas as pd
import typer

from benchmarks.real_path import start_server
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc

QUERIES = ("red heart", "christmas lights", "tea set", "vintage bag", "candle holder")


def _requests(users: list[str], items: list[str]) -> list[tuple[str, object]]:
    opts = pb.RecommendOptions(seed=11)
    out: list[tuple[str, object]] = []
    for i, u in enumerate(users):
        out.append(("Recommend", pb.RecommendRequest(user_id=u, k=10, options=opts)))
        out.append(
            (
                "Recommend",
                pb.RecommendRequest(user_id=u, k=10, options=opts, session_item_ids=[items[i % len(items)]]),
            )
        )
    out.append(("Recommend", pb.RecommendRequest(user_id="never-seen-user", k=10, options=opts)))
    out += [("Search", pb.SearchRequest(query=q, k=10)) for q in QUERIES]
    out += [("Search", pb.SearchRequest(query=q, k=10, user_id=users[0])) for q in QUERIES]
    return out


def _replies(target: str, requests) -> list[list[tuple[str, int, float]]]:
    with grpc.insecure_channel(target) as ch:
        stub = recommender_pb2_grpc.RecommenderStub(ch)
        got = []
        for _ in range(2):  # twice: the second pass runs on warm caches
            got = [
                [(i.item_id, int(i.reason), float(i.score)) for i in getattr(stub, m)(r, timeout=30).items]
                for m, r in requests
            ]
        return got


def main(
    bundle: Path = typer.Option(..., exists=True),  # noqa: B008
    feature_repo: Path = typer.Option(..., exists=True),  # noqa: B008
    before: Path = typer.Option(..., exists=True, help="the other source tree (e.g. an older commit)"),  # noqa: B008
    users: int = typer.Option(200, min=1),
) -> None:
    bundle, feature_repo = bundle.resolve(), feature_repo.resolve()
    events = pd.read_parquet(bundle.parent.parent / "data" / "events.parquet")
    train = events[events.split == "train"] if "split" in events else events
    who = [str(u) for u in train.user_id.value_counts().index[:users]]
    items = [str(i) for i in train.item_id.value_counts().index[:50]]
    requests = _requests(who, items)
    sides = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, tree in (("before", before), ("after", None)):
            work = Path(tmp) / name
            work.mkdir()
            repo = shutil.copytree(feature_repo, work / "repo")
            proc, target = start_server(bundle, work, name, repo, "sqlite", None, python_path=tree)
            try:
                sides[name] = _replies(target, requests)
            finally:
                proc.terminate()
                proc.wait(30)
    n = 0
    for (m, r), a, b in zip(requests, sides["before"], sides["after"], strict=True):
        same = [x[:2] for x in a] == [x[:2] for x in b] and all(
            abs(x[2] - y[2]) <= 1e-5 * max(1.0, abs(x[2])) for x, y in zip(a, b, strict=True)
        )
        if not same:
            print(f"DIFFERENT {m} {r}:\n  before {a}\n  after  {b}")
            raise typer.Exit(1)
        n += 1
    print(f"same ranked lists, reasons and scores in {n} replies ({len(who)} warm users, cold, Search)")


if __name__ == "__main__":
    typer.run(main)
