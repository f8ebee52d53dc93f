"""The loss of one two-tower training step, computed on the item rows the step needs.

A step scores each target against candidates (``offline.model.sampled_softmax``): with
``retrieval.negatives: full`` the whole catalogue, so the whole item table is computed (as it
always was). With ``in_batch`` or ``mixed`` the candidates are the batch's targets and a few
uniform negatives, so only those rows and the histories' items are computed
(``ItemTable.rows``); the positives of each history are marked over the candidates only, and the
trend prior is gathered for the candidates only (``offline.model.cut_trend``). The loss and its
gradients are those of the full-table computation for the same candidates (tested); only the
id-dropout draws differ (one per computed row instead of one per catalogue row). With
``retrieval.id_updates: rows`` the id table's gradient is row-sparse as well
(``offline.model.row_adamw``), so nothing in the step grows with the catalogue.
"""

from __future__ import annotations

import numpy as np
import torch

from offline.model.sampled_softmax import candidate_loss, sample_candidates


def step_loss(
    table,
    user,
    r,
    hist_items: np.ndarray,
    types: np.ndarray,
    age: np.ndarray,
    mask: np.ndarray,
    row: np.ndarray,
    target: torch.Tensor,
    item_prob: torch.Tensor,
    gen: torch.Generator,
    trends=None,
    day_of_row: np.ndarray | None = None,
) -> torch.Tensor:
    """Mean sampled-softmax loss of targets ``target`` [B] whose histories are rows ``row`` [B]
    of the padded history batch (``hist_items`` [H, T] item indices; ``types``, ``age``, ``mask``
    as from ``offline.model.examples.history_batch``). ``r`` is the retrieval config;
    ``trends`` (``CutTrends``) with ``day_of_row`` [B] adds ``table.trend_scale`` x the prior."""
    n = table.n_items
    cand, label = sample_candidates(target, n, r.negatives, r.num_negatives, gen)
    hist = torch.from_numpy(hist_items)
    if r.negatives == "full":
        vecs = table(r.id_dropout)
        cand_vecs, hist_vecs = vecs, vecs[hist]
    else:
        need, where = torch.unique(torch.cat([cand, hist.reshape(-1)]), return_inverse=True)
        vecs = table.rows(need, r.id_dropout, sparse=r.id_updates == "rows")
        cand_vecs = vecs[where[: len(cand)]]
        hist_vecs = vecs[where[len(cand) :]].reshape(*hist.shape, -1)
    u = user(hist_vecs, torch.from_numpy(types), torch.from_numpy(age), torch.from_numpy(mask))
    row_t = torch.from_numpy(row)
    # every target of a history is a positive of each of its rows: marked over the candidates
    positive = torch.zeros((len(hist_items), len(cand)), dtype=torch.bool)
    positive[row_t, label] = True
    other = positive[row_t] & (torch.arange(len(cand))[None, :] != label[:, None])
    prior = None
    if trends is not None:
        prior = table.trend_scale * trends.gather(torch.from_numpy(day_of_row), cand)
    return candidate_loss(
        u[row_t], cand_vecs, cand, label, item_prob, r.negatives, r.num_negatives, n,
        r.temperature, r.logq_correction, other, prior,
    )
