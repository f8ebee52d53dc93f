"""The ledger of forgotten users: what keeps an erased user out of every later training run.

``<offline_dir>/forgotten_users.sha256`` holds one sha256 (hex) of a forgotten user id per line,
never the id itself. `fulcrum forget` / ``ForgetUser`` append to it after erasing the user's
events; retraining drops every event whose user's digest is listed (the prepared data may be
re-exported from a shop system that still has them). Shared by both sides: online writes it,
offline reads it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

LEDGER = "forgotten_users.sha256"


def user_digest(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def read_ledger(offline_dir: Path | None) -> frozenset[str]:
    if offline_dir is None:
        return frozenset()
    path = Path(offline_dir) / LEDGER
    if not path.is_file():
        return frozenset()
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())


def add_to_ledger(offline_dir: Path, user_id: str) -> None:
    """Append the user's digest (once); fsync'd, so a completed forget survives a crash."""
    digest = user_digest(user_id)
    if digest in read_ledger(offline_dir):
        return
    Path(offline_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(offline_dir) / LEDGER, "a") as f:
        f.write(digest + "\n")
        f.flush()
        os.fsync(f.fileno())


def forgotten_mask(user_ids: Iterable[str], ledger: frozenset[str]) -> list[bool]:
    """True for each user id whose digest is in ``ledger``."""
    if not ledger:
        return [False for _ in user_ids]
    return [user_digest(str(u)) in ledger for u in user_ids]
