"""A run folder as a ``recommend_fn`` for offline.eval's harness (OR-temporal).

Warm users: the user tower over their last T train events (as of the train cut-off) -> cosine
with every item embedding -> top k after the harness's exclusions. Users without train events
get the most purchased train items (the harness' cold-start slice).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from offline.eval.vector_topk import vector_top_k


class TwoTowerRecommender:
    def __init__(self, inter, item_vecs: np.ndarray, user_tower, t_len: int) -> None:
        import torch

        from offline.model.examples import user_histories

        self.item_ids = inter.items["item_id"].astype(str).to_numpy()
        self.index = {i: j for j, i in enumerate(self.item_ids)}
        self.item_vecs = item_vecs.astype(np.float32)
        users, (items, types, age, mask) = user_histories(inter, inter.train_end, t_len)
        with torch.no_grad():
            u = user_tower(
                torch.from_numpy(self.item_vecs[items]),
                torch.from_numpy(types),
                torch.from_numpy(age),
                torch.from_numpy(mask),
            ).numpy()
        self.user_vecs = {str(inter.user_ids[j]): u[r] for r, j in enumerate(users.tolist())}
        counts = np.bincount(inter.ev_item, minlength=inter.n_items)
        self.seen = counts > 0
        self.popular = [self.item_ids[i] for i in np.argsort(-counts, kind="stable") if counts[i] > 0]

    def __call__(self, user_ids: list[str], k: int, exclude: dict[str, set[str]]) -> list[list[str]]:
        return vector_top_k(
            user_ids, k, exclude, user_vecs=self.user_vecs, item_vecs=self.item_vecs, item_ids=self.item_ids,
            index=self.index, allowed=self.seen, popular=self.popular,
        )


def evaluate_run(run_dir: str | Path, data_dir: str | Path) -> dict:
    """OR-temporal metrics of a run folder through offline.eval.harness.evaluate_recommender."""
    import torch

    from offline.data.dataset import load_prepared
    from offline.eval.harness import evaluate_recommender
    from offline.model import run_layout as tr
    from offline.model.interactions import load_interactions
    from offline.model.user_tower import UserTower

    run_dir = Path(run_dir)
    towers = torch.load(run_dir / tr.TOWERS, weights_only=False)
    user = UserTower(**towers["user_kwargs"]).eval()
    user.load_state_dict(towers["user"])
    inter = load_interactions(data_dir)
    info = json.loads((run_dir / tr.RUN_JSON).read_text())
    rec = TwoTowerRecommender(
        inter, np.load(run_dir / "item_embeddings.npy"), user, int(info["max_lengths"]["history_events"])
    )
    return evaluate_recommender(rec, load_prepared(data_dir))
