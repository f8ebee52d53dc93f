"""Test helpers for the Feast repo: a private copy of feature_repo/ per test and synthetic events.

Each copy gets its own project name, so copies sharing one redis-server never see each other's
keys, and its own data/ folder, so no test touches the real feature_repo/data.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURE_REPO = ROOT / "feature_repo"
DAY = 86_400.0
T0 = 1_300_000_000.0 - (1_300_000_000.0 % DAY)  # 2011-03-13 00:00 UTC


def copy_repo(dest: Path) -> Path:
    repo = Path(dest) / "feature_repo"
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    (repo / "data").mkdir()
    project = f"fulcrum_t{uuid.uuid4().hex[:10]}"
    for name in ("feature_store.yaml", "feature_store.redis.yaml"):
        path = repo / name
        text = path.read_text()
        if "project: fulcrum\n" not in text:
            raise AssertionError(f"{name}: expected 'project: fulcrum'")
        path.write_text(text.replace("project: fulcrum\n", f"project: {project}\n"))
    return repo


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows of (user, item, type, seconds after T0, price) -> an events table (schema.py columns)."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "quantity": 1.0,
            "price": [float(r[4]) for r in rows],
            "timestamp": pd.to_datetime(np.array([T0 + r[3] for r in rows]) * 1e9, unit="ns", utc=True),
            "session_id": "s",
            "split": "train",
        }
    )


def synthetic_events(
    n: int = 300, users: int = 20, items: int = 15, days: int = 60, seed: int = 7
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    types = [
        "VIEW",
        "CLICK",
        "ADD_TO_CART",
        "PURCHASE",
        "PURCHASE",
        "PURCHASE",
        "CANCEL",
        "DISLIKE",
        "IMPRESSION",
        "IMPRESSION",
    ]
    rows = []
    for _ in range(n):
        t = types[rng.integers(len(types))]
        price = float(rng.integers(1, 20)) / 2 if t in ("PURCHASE", "CANCEL") else 0.0
        rows.append(
            (
                f"u{rng.integers(users)}",
                f"i{rng.integers(items)}",
                t,
                float(rng.integers(0, days * 24)) * 3600.0,
                price,
            )
        )
    return events_frame(rows)


def redis_hashes(store, entity_keys) -> tuple[list[dict[bytes, bytes]], list[int]]:
    """The raw Redis hash (HGETALL) and TTL of each entity key, as Feast names the key."""
    from feast.infra.key_encoding_utils import serialize_entity_key

    client = store._get_provider().online_store._get_client(store.config.online_store)
    version = store.config.entity_key_serialization_version
    names = [
        serialize_entity_key(k, entity_key_serialization_version=version) + store.config.project.encode()
        for k in entity_keys
    ]
    return [client.hgetall(n) for n in names], [client.ttl(n) for n in names]
