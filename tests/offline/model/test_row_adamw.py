"""RowAdamW: AdamW on the rows of a row-sparse gradient only (retrieval.id_updates: rows)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from offline.model.row_adamw import RowAdamW, clip_grad_norm  # noqa: E402


def _losses(weight: torch.Tensor, idx: torch.Tensor, sparse: bool, target: torch.Tensor) -> torch.Tensor:
    return (torch.nn.functional.embedding(idx, weight, sparse=sparse) - target[idx]).pow(2).sum()


def _touch(weight: torch.Tensor, row: int, grad: list[float]) -> None:
    """Backward a loss whose gradient is ``grad`` on row ``row`` of ``weight`` (row-sparse)."""
    picked = torch.nn.functional.embedding(torch.tensor([row]), weight, sparse=True)
    (picked * torch.tensor([grad])).sum().backward()


def test_every_row_in_every_step_is_plain_adamw():
    gen = torch.Generator().manual_seed(0)
    start = torch.randn((6, 3), generator=gen)
    target = torch.randn((6, 3), generator=gen)
    dense = torch.nn.Parameter(start.clone())
    rows = torch.nn.Parameter(start.clone())
    other_d, other_r = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    a = torch.optim.AdamW([dense, other_d], lr=0.05, weight_decay=0.1)
    b = RowAdamW([rows, other_r], lr=0.05, weight_decay=0.1)
    every = torch.arange(6)
    for step in range(4):
        for opt, w, o, sparse in ((a, dense, other_d, False), (b, rows, other_r, True)):
            opt.param_groups[0]["lr"] = 0.05 / (step + 1)  # as a scheduler would
            opt.zero_grad()
            (_losses(w, every, sparse, target) + o.sum() * (step + 1)).backward()
            assert w.grad.is_sparse == sparse
            opt.step()
    np.testing.assert_allclose(rows.detach().numpy(), dense.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(other_r.detach().numpy(), other_d.detach().numpy(), rtol=1e-6)


def test_rows_outside_the_step_do_not_move_and_a_first_step_is_lr_times_sign():
    # first AdamW step on a row with gradient g: m_hat = g, v_hat = g^2, so the row moves by
    # -lr * g / (|g| + eps) = -lr * sign(g) after the decoupled decay w * (1 - lr * wd)
    w0 = torch.tensor([[1.0, -2.0], [3.0, 4.0], [5.0, 6.0]])
    w = torch.nn.Parameter(w0.clone())
    opt = RowAdamW([w], lr=0.1, weight_decay=0.5, eps=1e-12)
    opt.zero_grad()
    _touch(w, 1, [2.0, -3.0])
    opt.step()
    # row 1: g = (2, -3): (3, 4) * 0.95 - 0.1 * (1, -1) = (2.75, 3.9); rows 0 and 2 untouched
    np.testing.assert_allclose(w.detach().numpy(), [[1.0, -2.0], [2.75, 3.9], [5.0, 6.0]], rtol=1e-6)
    # the next step touches row 0 only: row 1 keeps its weight (dense AdamW would move it on its
    # momentum and decay it), row 0 takes its own first-step update
    opt.zero_grad()
    _touch(w, 0, [1.0, 1.0])
    opt.step()
    np.testing.assert_allclose(w.detach().numpy()[1], [2.75, 3.9], rtol=1e-6)
    # its moments are one step old but its bias correction is the parameter's 2nd step:
    # m = 0.1 g, v = 0.001 g^2; m / (1 - 0.9^2) / sqrt(v / (1 - 0.999^2)) = 0.1/0.19 / sqrt(0.001/0.001999)
    scale = (0.1 / 0.19) / np.sqrt(0.001 / 0.001999)
    np.testing.assert_allclose(w.detach().numpy()[0], np.array([1.0, -2.0]) * 0.95 - 0.1 * scale, rtol=1e-5)


def test_clip_counts_sparse_rows_like_dense_ones():
    dense = torch.nn.Parameter(torch.zeros(3))
    table = torch.nn.Parameter(torch.zeros((4, 2)))
    (dense * torch.tensor([3.0, 0.0, 0.0])).sum().backward()
    _touch(table, 2, [0.0, 4.0])
    total = clip_grad_norm([dense, table], 1.0)
    assert total == pytest.approx(5.0)  # sqrt(3^2 + 4^2)
    np.testing.assert_allclose(dense.grad.numpy(), [0.6, 0.0, 0.0], rtol=1e-5)
    np.testing.assert_allclose(table.grad.to_dense().numpy()[2], [0.0, 0.8], rtol=1e-5)
