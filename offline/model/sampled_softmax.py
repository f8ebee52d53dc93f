"""Sampled softmax with logQ (sampling-probability) correction for the two towers.

Candidates for a batch of (user, target item) pairs:
- ``full``: every catalogue item (exact softmax, no correction needed);
- ``in_batch``: the batch's distinct target items (sampled by popularity, so the head dominates
  the negatives: logQ correction subtracts log of each item's expected count in the set);
- ``mixed``: in-batch targets plus ``k`` uniform random items (mixed negative sampling), whose
  expected count is ``B * p_i + k / N``.

``p_i`` is item i's share of training examples. A target that appears in several rows of the batch
is one column, so no row treats another row's identical item as a negative; the other targets of
the same history are masked out of a row's negatives too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def sample_candidates(
    target: torch.Tensor, n_items: int, negatives: str, k: int, gen: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(candidate item indices [C], label column of each row [B])."""
    if negatives == "full":
        return torch.arange(n_items), target
    pool = target
    if negatives == "mixed":
        pool = torch.cat([target, torch.randint(0, n_items, (k,), generator=gen)])
    elif negatives != "in_batch":
        raise ValueError(f"negatives={negatives!r}: expected full, in_batch or mixed")
    cand, inverse = torch.unique(pool, return_inverse=True)
    return cand, inverse[: len(target)]


def log_expected_count(
    cand: torch.Tensor, item_prob: torch.Tensor, batch: int, negatives: str, k: int, n_items: int
) -> torch.Tensor:
    """log E[count of each candidate in the sampled set] (the logQ term)."""
    q = batch * item_prob[cand]
    if negatives == "mixed":
        q = q + k / n_items
    return torch.log(q.clamp(min=1e-12))


def candidate_loss(
    user: torch.Tensor,
    cand_vecs: torch.Tensor,
    cand: torch.Tensor,
    label: torch.Tensor,
    item_prob: torch.Tensor,
    negatives: str,
    k: int,
    n_items: int,
    temperature: float,
    logq: bool,
    other_positive: torch.Tensor | None = None,
    prior: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of each row's label column among the candidates ``cand`` [C] whose
    vectors are ``cand_vecs`` [C, D] (from ``sample_candidates``). ``other_positive`` [B, C]
    (bool) marks candidates that are other positives of the row's history (not its label): they
    are removed from its negatives. ``prior`` [B, C] is added to the logits. Nothing here is the
    size of the catalogue."""
    logits = user @ cand_vecs.T / temperature
    if prior is not None:
        logits = logits + prior
    if logq and negatives != "full":
        logits = logits - log_expected_count(cand, item_prob, len(label), negatives, k, n_items)[None, :]
    if other_positive is not None:
        logits = logits.masked_fill(other_positive, -1e4)
    return nn.functional.cross_entropy(logits, label)


def sampled_softmax_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    item_prob: torch.Tensor,
    negatives: str,
    k: int,
    temperature: float,
    logq: bool,
    gen: torch.Generator | None = None,
    also_positive: torch.Tensor | None = None,
    prior: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``candidate_loss`` over a full table ``items`` [N, D] (the reference form; training
    computes only the candidates' rows, ``offline.model.train_step``).

    ``user`` has one row per target. ``also_positive`` [B, N] (bool, optional) marks other items
    that are positives of the same row's history (same cut): they are removed from its negatives.
    ``prior(cand) -> [B, C]`` (optional) adds a fixed per-row score to the logits (e.g. the trend
    prior at each row's cut): the towers then learn what the prior does not already explain.
    """
    n = items.shape[0]
    cand, label = sample_candidates(target, n, negatives, k, gen)
    other = None
    if also_positive is not None:
        other = also_positive[:, cand] & (cand[None, :] != target[:, None])
    return candidate_loss(
        user, items[cand], cand, label, item_prob, negatives, k, n, temperature, logq, other,
        None if prior is None else prior(cand),
    )
