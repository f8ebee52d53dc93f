"""A training step on the rows it needs equals the old full-table step (same seed, same candidates).

The reference below is the step as it was before (``offline.model.retrieval_fit`` up to this
change): the whole item table, a dense [histories x catalogue] positive mask and a dense
[days x catalogue] trend table. Both run on the tiny random BERT's pooled text features over a
small synthetic shop, several AdamW steps each, from the same weights and seeds.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _shop(tmp_path, tiny_bert_dir):
    from offline.export.synthetic_data import write_synthetic_prepared
    from offline.model.examples import build_examples
    from offline.model.interactions import load_interactions
    from offline.model.text_tower import (
        TextTower,
        cache_lower,
        load_bert,
        load_tokenizer,
        pooled_all,
        tokenize,
    )

    write_synthetic_prepared(tmp_path, n_users=30, n_items=60, n_events=900, seed=3)
    inter = load_interactions(tmp_path)
    examples = build_examples(inter, -np.inf, np.inf, horizon_days=7.0, new_only=True)
    torch.manual_seed(0)
    tower = TextTower(load_bert(tiny_bert_dir), dim=8, train_layers=1)
    ids, mask = tokenize(load_tokenizer(tiny_bert_dir, max_len=8), inter.item_texts)
    pooled = pooled_all(tower, cache_lower(tower, ids, mask), mask)
    return inter, examples, tower, pooled


def _towers(tower, pooled, trend_scale: float):
    from offline.model.item_table import ItemTable
    from offline.model.user_tower import UserTower

    torch.manual_seed(1)
    table = ItemTable(pooled, copy.deepcopy(tower.proj), use_ids=True)
    with torch.no_grad():
        table.ids.weight.normal_(0.0, 0.1)  # as after the SVD init: every row non-zero
    table.trend_scale = torch.nn.Parameter(torch.tensor(trend_scale))
    return table, UserTower(dim=8, layers=1, heads=2, dropout=0.1)


def _old_step(table, user, r, items, types, age, mask, row, target, item_prob, gen, dense, day_of_row):
    from offline.model.sampled_softmax import sampled_softmax_loss

    positive = torch.zeros((len(items), table.n_items), dtype=torch.bool)
    positive[torch.from_numpy(row), target] = True
    vecs = table(r.id_dropout)
    feeds = (torch.from_numpy(a) for a in (types, age, mask))
    u = user(vecs[torch.from_numpy(items)], *feeds)
    row_t = torch.from_numpy(row)
    day = torch.from_numpy(day_of_row)
    return sampled_softmax_loss(
        u[row_t], vecs, target, item_prob, r.negatives, r.num_negatives, r.temperature, r.logq_correction,
        gen, also_positive=positive[row_t], prior=lambda cand: table.trend_scale * dense[:, cand][day],
    )


def _run(step, inter, examples, table, user, r, trends, cut_day, extra):
    from offline.model.examples import history_batch
    from offline.model.retrieval_fit import target_prob

    params = list(user.parameters()) + [p for p in table.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=0.01, weight_decay=0.01)
    item_prob = torch.as_tensor(target_prob(examples, inter.n_items), dtype=torch.float32)
    rng = np.random.default_rng(5)
    gen = torch.Generator().manual_seed(5)
    torch.manual_seed(7)  # the user tower's dropout
    table.train()
    user.train()
    losses, grads = [], []
    for _ in range(4):
        c = rng.choice(examples.n_cuts, size=min(6, examples.n_cuts), replace=False)
        items, types, age, mask = history_batch(
            inter, examples.user[c], examples.hist_end[c], examples.time[c], 5
        )
        sizes = examples.ptr[c + 1] - examples.ptr[c]
        tgt_idx = np.concatenate([np.arange(examples.ptr[x], examples.ptr[x + 1]) for x in c])
        row = np.repeat(np.arange(len(c)), sizes)
        target = torch.from_numpy(examples.target[tgt_idx])
        loss = step(table, user, r, items, types, age, mask, row, target, item_prob, gen,
                    extra, cut_day[c][row])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        grads.append([p.grad.clone() for p in params])
        opt.step()
        losses.append(loss.item())
    return losses, grads


@pytest.mark.parametrize("negatives", ["mixed", "in_batch", "full"])
def test_row_step_equals_the_full_table_step(tmp_path, tiny_bert_dir, negatives):
    from offline.model.cut_trend import cut_trends
    from offline.model.train_step import step_loss
    from offline.train_config import TrainConfig

    inter, examples, tower, pooled = _shop(tmp_path, tiny_bert_dir)
    assert examples.n_cuts >= 6
    # id dropout 0: the row step draws its dropout for the computed rows only (its own test below)
    r = TrainConfig(retrieval={"negatives": negatives, "num_negatives": 16, "id_dropout": 0.0}).retrieval
    trends, cut_day = cut_trends(inter, examples, days=14.0)
    dense = trends.dense()
    assert dense.abs().max() > 0  # the prior takes part
    old_t, old_u = _towers(tower, pooled, 0.5)
    new_t, new_u = copy.deepcopy(old_t), copy.deepcopy(old_u)
    old, old_g = _run(_old_step, inter, examples, old_t, old_u, r, trends, cut_day, dense)
    new, new_g = _run(step_loss, inter, examples, new_t, new_u, r, trends, cut_day, trends)
    np.testing.assert_allclose(new, old, rtol=1e-5)
    for step_old, step_new in zip(old_g, new_g, strict=True):
        for a, b in zip(step_old, step_new, strict=True):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)
    # the attention's key bias has a zero gradient in exact arithmetic (a softmax does not move
    # when one constant is added to a query's scores): its float-noise gradient, which AdamW
    # scales up to lr-sized steps, differs between any two summation orders, so it is left out
    key_bias = {"blocks.0.qkv.bias"}
    for (name, a), (_, b) in zip(old_t.state_dict().items(), new_t.state_dict().items(), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    for (name, a), (_, b) in zip(old_u.state_dict().items(), new_u.state_dict().items(), strict=True):
        if name in key_bias:
            a, b = torch.cat([a[:8], a[16:]]), torch.cat([b[:8], b[16:]])  # query and value parts
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    # the weights did move (the comparison is not of two untouched copies)
    assert not torch.allclose(old_t.ids.weight, _towers(tower, pooled, 0.5)[0].ids.weight)


def test_rows_are_the_table_rows_and_drop_ids_per_row(tiny_bert_dir, tmp_path):
    _, _, tower, pooled = _shop(tmp_path, tiny_bert_dir)
    table, _ = _towers(tower, pooled, 1.0)
    idx = torch.tensor([3, 0, 17, 59])
    table.eval()
    with torch.no_grad():
        np.testing.assert_allclose(table.rows(idx, 0.5).numpy(), table()[idx].numpy(), atol=1e-6)
        text_only = torch.nn.functional.normalize(table.text_vectors()[idx], dim=-1)
        table.train()
        torch.manual_seed(0)
        got = table.rows(idx, 0.5)
    full = table.eval()()[idx]
    # each row is either its full vector or its text-only vector (its id residual dropped)
    is_full = torch.isclose(got, full, atol=1e-6).all(dim=1)
    is_text = torch.isclose(got, text_only, atol=1e-6).all(dim=1)
    assert (is_full | is_text).all()
    torch.manual_seed(0)
    keep = (torch.rand(len(idx), 1) >= 0.5).squeeze(1)  # one draw per computed row
    assert is_full.tolist() == keep.tolist()


def test_cut_trends_gather_equals_the_dense_prior(tmp_path):
    from offline.export.synthetic_data import write_synthetic_prepared
    from offline.model.cut_trend import cut_trends
    from offline.model.examples import build_examples
    from offline.model.interactions import PURCHASE_CODE, load_interactions
    from offline.model.trend_prior import TrendAt

    write_synthetic_prepared(tmp_path, n_users=30, n_items=60, n_events=900, seed=4)
    inter = load_interactions(tmp_path)
    ex = build_examples(inter, -np.inf, np.inf, horizon_days=7.0, new_only=True)
    trends, cut_day = cut_trends(inter, ex, days=5.0)
    # the reference: TrendAt's vector at each distinct cut day (what training used before)
    p = inter.ev_type == PURCHASE_CODE
    at = TrendAt(inter.ev_user[p], inter.ev_item[p], inter.ev_time[p], 5.0, inter.n_items, by_day=True)
    days = np.unique(np.floor(ex.time / 86_400.0) * 86_400.0)
    want = np.stack([at.vector(float(d)) for d in days])
    assert trends.n_days == len(days) > 3
    np.testing.assert_array_equal(trends.dense().numpy(), want)  # bit for bit
    assert len(trends.values) < want.size  # compressed: the unsold items are not listed
    assert trends.max_abs() == pytest.approx(float(np.abs(want).max()))
    rows, cand = cut_day[[0, 5, 2, 0]], [7, 0, 59, 31, 7]
    got = trends.gather(torch.from_numpy(rows), torch.tensor(cand))
    np.testing.assert_array_equal(got.numpy(), want[rows][:, cand])


def test_a_one_step_fit_runs(tmp_path, tiny_bert_dir):
    # fewer examples than one batch and one epoch (a short refit): one step; OneCycleLR used to
    # raise ZeroDivisionError on a one-step schedule
    from offline.model.retrieval_fit import fit_retrieval
    from offline.train_config import TrainConfig

    inter, examples, tower, pooled = _shop(tmp_path, tiny_bert_dir)
    table, user = _towers(tower, pooled, 1.0)
    cfg = TrainConfig(dim=8, user={"heads": 2}, retrieval={"batch_size": 100_000})
    before = table.ids.weight.detach().clone()
    hist = fit_retrieval(inter, table, user, examples, cfg, None, epochs=1)
    assert len(hist.losses) == 1 and np.isfinite(hist.losses[0])
    assert not torch.equal(before, table.ids.weight)  # the one step was taken


def test_row_updates_touch_only_the_steps_rows(tmp_path, tiny_bert_dir):
    # retrieval.id_updates: rows -> the id table's gradient is row-sparse and rows outside every
    # step keep their weights (here: items padded onto the catalogue that no step can draw,
    # since in-batch candidates are bought items and there are no uniform negatives)
    from offline.model.retrieval_fit import fit_retrieval
    from offline.train_config import TrainConfig

    inter, examples, tower, pooled = _shop(tmp_path, tiny_bert_dir)
    table, user = _towers(tower, pooled, 1.0)
    cfg = TrainConfig(dim=8, user={"heads": 2}, retrieval={
        "id_updates": "rows", "negatives": "in_batch", "batch_size": 64, "trend_in_training": False})
    bought = np.zeros(inter.n_items, dtype=bool)
    bought[inter.ev_item] = True
    assert (~bought).any()
    before = table.ids.weight.detach().clone()
    hist = fit_retrieval(inter, table, user, examples, cfg, None, epochs=2)
    assert all(np.isfinite(hist.losses)) and len(hist.losses) == 2
    after = table.ids.weight.detach()
    assert torch.equal(after[torch.from_numpy(~bought)], before[torch.from_numpy(~bought)])
    assert not torch.equal(after[torch.from_numpy(bought)], before[torch.from_numpy(bought)])
    with pytest.raises(ValueError, match="id_updates"):
        TrainConfig(retrieval={"id_updates": "sometimes"})
