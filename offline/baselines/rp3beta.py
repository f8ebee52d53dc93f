"""RP3beta on the train interactions: the graph item-item model (a random walk item -> user ->
item, candidates' popularity divided out by ``deg(j) ** beta``), the same weights the hybrid's
neighbour table can hold (``offline.model.item_graph.rp3beta_weights``: each candidate keeps its
``topk`` strongest sources).

score(u, j) = sum of W[i, j] over the items i the user has; zero scores are broken by popularity
(a 1e-6 nudge) and unknown users get popularity, as item-kNN does, so lists are always full. A
baseline in the same harness as item-kNN so a gain the serving default takes from a better
neighbour model is measured against that model alone (and with the trend prior: ``rp3beta+trend``).
"""

from __future__ import annotations

from scipy import sparse

from offline.baselines.itemknn import ItemItemScorer


class RP3beta(ItemItemScorer):
    name = "rp3beta"

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, topk: int = 20) -> None:
        if not alpha > 0 or not beta >= 0 or topk < 1:
            raise ValueError(
                f"rp3beta: need alpha > 0, beta >= 0, topk >= 1; got {alpha!r}, {beta!r}, {topk!r}"
            )
        self.alpha, self.beta, self.topk = float(alpha), float(beta), int(topk)
        self.settings = {"similarity": "RP3beta random walk (offline/model/item_graph.py)",
                         "alpha": self.alpha, "beta": self.beta, "topk": self.topk}

    def weights(self, binary: sparse.csr_matrix) -> sparse.csr_matrix:
        from offline.model.item_graph import rp3beta_weights

        return rp3beta_weights(binary, self.alpha, self.beta, self.topk)  # rows: sources
