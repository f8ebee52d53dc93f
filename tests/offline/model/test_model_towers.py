"""The two towers, the loss and the training examples on tiny inputs (hand-worked where possible)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from offline.model.augment import augment_sequences  # noqa: E402
from offline.model.sampled_softmax import log_expected_count, sample_candidates, sampled_softmax_loss  # noqa: E402
from offline.model.text_tower import TextTower, load_bert, load_tokenizer, tokenize  # noqa: E402
from offline.model.user_tower import UserTower  # noqa: E402
from offline.train_config import SeqAugConfig  # noqa: E402


def test_text_tower_shapes_norm_and_split(tiny_bert_dir):
    tower = TextTower(load_bert(tiny_bert_dir), dim=8, train_layers=1).eval()
    tok = load_tokenizer(tiny_bert_dir, max_len=6)
    ids, mask = tokenize(tok, ["red heart candle holder glass light", "bag", ""])
    assert ids.shape == (3, 6)  # truncated to max_len
    assert mask[1].sum() == 3  # [CLS] bag [SEP]
    with torch.no_grad():
        out = tower(torch.from_numpy(ids), torch.from_numpy(mask))
        # the cached path (lower, then upper + projection) is the same function
        split = tower.project(
            tower.upper(tower.lower(torch.from_numpy(ids), torch.from_numpy(mask)), torch.from_numpy(mask))
        )
    assert out.shape == (3, 8)
    np.testing.assert_allclose(out.norm(dim=1).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), split.numpy(), atol=1e-6)
    # only the top layer and the projection train
    assert tower.split == 1
    assert not any(p.requires_grad for p in tower.bert.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in tower.bert.encoder.layer[1].parameters())


def test_text_tower_ignores_padding(tiny_bert_dir):
    tower = TextTower(load_bert(tiny_bert_dir), dim=8, train_layers=1).eval()
    tok = load_tokenizer(tiny_bert_dir, max_len=16)
    ids, mask = tokenize(tok, ["red heart", "jumbo retro spot lunch bag"])
    alone_ids, alone_mask = tokenize(tok, ["red heart"])
    with torch.no_grad():
        padded = tower(torch.from_numpy(ids), torch.from_numpy(mask))[0]
        alone = tower(torch.from_numpy(alone_ids), torch.from_numpy(alone_mask))[0]
    np.testing.assert_allclose(padded.numpy(), alone.numpy(), atol=1e-5)


def _history(b=3, t=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    emb = torch.nn.functional.normalize(torch.randn(b, t, d, generator=g), dim=-1)
    typ = torch.full((b, t), 4, dtype=torch.int64)
    age = torch.rand(b, t, generator=g) * 30
    mask = torch.ones(b, t)
    return emb, typ, age, mask


def test_user_tower_norm_padding_side_and_empty_rows():
    torch.manual_seed(0)
    user = UserTower(dim=8, layers=1, heads=2, dropout=0.0).eval()
    emb, typ, age, mask = _history()
    with torch.no_grad():
        u = user(emb, typ, age, mask)
        assert u.shape == (3, 8)
        np.testing.assert_allclose(u.norm(dim=1).numpy(), 1.0, atol=1e-5)
        # the same history left- or right-padded gives the same vector (no positional encoding)
        z = torch.zeros(3, 2, 8)
        zt, zm = torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3, 2)
        right = user(
            torch.cat([emb, z], 1), torch.cat([typ, zt], 1), torch.cat([age, zm], 1), torch.cat([mask, zm], 1)
        )
        left = user(
            torch.cat([z, emb], 1), torch.cat([zt, typ], 1), torch.cat([zm, age], 1), torch.cat([zm, mask], 1)
        )
        np.testing.assert_allclose(right.numpy(), u.numpy(), atol=1e-5)
        np.testing.assert_allclose(left.numpy(), u.numpy(), atol=1e-5)
        # a fully padded row stays finite
        empty = user(emb, typ * 0, age, mask * 0)
        assert torch.isfinite(empty).all()


def test_full_softmax_is_plain_cross_entropy():
    # 2 users, 3 items, temperature 1: loss = mean of -log softmax(u . v)[target]
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    target = torch.tensor([0, 2])
    loss = sampled_softmax_loss(user, items, target, torch.full((3,), 1 / 3), "full", 0, 1.0, logq=True)
    row0 = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(0.0) + math.exp(0.6)))
    row1 = -math.log(math.exp(0.8) / (math.exp(0.0) + math.exp(1.0) + math.exp(0.8)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-5)


def test_prior_adds_to_the_logits():
    # the same 2 users x 3 items with a prior of +1 on item 2 for row 0 only (e.g. the trend at
    # row 0's cut): row 0's logits become (1, 0, 1.6), row 1's stay (0, 1, 0.8)
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    target = torch.tensor([0, 2])
    rows = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    loss = sampled_softmax_loss(user, items, target, torch.full((3,), 1 / 3), "full", 0, 1.0, logq=True,
                                prior=lambda cand: rows[:, cand])
    row0 = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(0.0) + math.exp(1.6)))
    row1 = -math.log(math.exp(0.8) / (math.exp(0.0) + math.exp(1.0) + math.exp(0.8)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-5)


def test_cut_trends_are_the_prior_at_each_cut_day(tmp_path):
    import pandas as pd

    from fulcrum.core import schema as S
    from offline.model.cut_trend import cut_trends
    from offline.model.examples import build_examples
    from offline.model.interactions import PURCHASE_CODE, load_interactions
    from offline.model.trend_prior import trend_prior

    t0 = pd.Timestamp("2011-01-01", tz="UTC")
    # u buys A on day 0 and B on day 2 (12:00); v buys A on day 1 and C on day 2 (08:00)
    rows = [("u", "A", 0, 0), ("u", "B", 2, 12), ("v", "A", 1, 0), ("v", "C", 2, 8)]
    ev = pd.DataFrame({
        S.EVENT_ID: [f"e{i}" for i in range(len(rows))], S.USER_ID: [r[0] for r in rows],
        S.ITEM_ID: [r[1] for r in rows], S.EVENT_TYPE: "PURCHASE", S.QUANTITY: 1.0, S.PRICE: 1.0,
        S.TIMESTAMP: [t0 + pd.Timedelta(days=r[2], hours=r[3]) for r in rows], S.SESSION_ID: "s",
        S.SPLIT: "train",
    })
    items = pd.DataFrame({S.ITEM_ID: list("ABC"), S.ITEM_TEXT: list("abc"), S.PRICE: 1.0, S.FIRST_SEEN: t0})
    ev.to_parquet(tmp_path / S.EVENTS_FILE)
    items.to_parquet(tmp_path / S.ITEMS_FILE)
    inter = load_interactions(tmp_path)
    ex = build_examples(inter, -np.inf, np.inf, horizon_days=0, new_only=True)
    # two cuts (u at day 2 12:00 -> B, v at day 2 08:00 -> C), both on day 2: one trend row, as of
    # the start of day 2 from the purchases before it (A twice, by u and v) -- never the cut's own day
    trends, day = cut_trends(inter, ex, days=7.0)
    got = trends.dense()
    assert ex.n_cuts == 2 and got.shape == (1, 3) and day.tolist() == [0, 0]
    p = inter.ev_type == PURCHASE_CODE
    day2 = (t0 + pd.Timedelta(days=2)).timestamp()
    want = trend_prior(inter.ev_user[p], inter.ev_item[p], inter.ev_time[p], day2, 7.0, 3)[0]
    np.testing.assert_allclose(got[0].numpy(), want, atol=1e-6)
    assert got[0, 0] > got[0, 1] == got[0, 2]  # A sold twice, B and C not yet


def test_in_batch_candidates_dedupe_and_logq():
    target = torch.tensor([5, 2, 5])
    cand, label = sample_candidates(target, 10, "in_batch", 0)
    assert cand.tolist() == [2, 5]  # one column per distinct item
    assert label.tolist() == [1, 0, 1]
    prob = torch.zeros(10)
    prob[2], prob[5] = 0.1, 0.4
    # expected count in a batch of 3: B * p -> log(0.3), log(1.2)
    lq = log_expected_count(cand, prob, 3, "in_batch", 0, 10)
    np.testing.assert_allclose(lq.numpy(), np.log([0.3, 1.2]), rtol=1e-6)
    # mixed adds k / N for the uniform part: 0.3 + 4/10, 1.2 + 4/10
    lq = log_expected_count(cand, prob, 3, "mixed", 4, 10)
    np.testing.assert_allclose(lq.numpy(), np.log([0.7, 1.6]), rtol=1e-6)


def test_logq_correction_favours_rare_items():
    # equal scores; the popular item's logit is lowered by the correction -> the rare one wins
    user = torch.tensor([[1.0, 0.0]])
    items = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    prob = torch.tensor([0.9, 0.1])
    with_lq = sampled_softmax_loss(user, items, torch.tensor([1]), prob, "in_batch", 0, 1.0, logq=True)
    # single distinct target -> one candidate, loss 0 whatever the correction
    assert with_lq.item() == pytest.approx(0.0, abs=1e-6)
    two = torch.tensor([0, 1])
    users = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    plain = sampled_softmax_loss(users, items, two, prob, "in_batch", 0, 1.0, logq=False)
    corrected = sampled_softmax_loss(users, items, two, prob, "in_batch", 0, 1.0, logq=True)
    assert plain.item() == pytest.approx(math.log(2), rel=1e-5)
    # batch of 2: expected counts B * p = 1.8 (popular) and 0.2 (rare); equal raw scores, so the
    # corrected logits are -log 1.8 and -log 0.2, i.e. softmax probabilities 0.2/2 = 0.1 and 1.8/2 = 0.9:
    # row 0 (popular target) loses -log 0.1, row 1 (rare target) -log 0.9
    r0, r1 = -math.log(0.1), -math.log(0.9)
    assert corrected.item() == pytest.approx((r0 + r1) / 2, rel=1e-5)


def test_sequence_augmentation_keeps_the_newest_event():
    rng = np.random.default_rng(0)
    types = np.full((50, 6), 4)
    age = np.tile(np.arange(6, 0, -1, dtype=np.float32), (50, 1))
    mask = np.ones((50, 6), dtype=np.float32)
    cfg = SeqAugConfig(enabled=True, crop_prob=0.5, mask_prob=0.5, reorder_prob=0.5)
    t2, a2, m2 = augment_sequences(rng, types, age, mask, cfg)
    assert (m2[:, -1] == 1).all()  # the most recent event always stays
    assert m2.sum() < mask.sum()  # something was dropped
    assert (t2[m2 == 0] == 0).all()  # dropped events are padding
    assert np.array_equal(np.sort(a2, 1), np.sort(age, 1))  # reorder only permutes ages
    off = augment_sequences(rng, types, age, mask, SeqAugConfig(enabled=False))
    assert off[2] is mask


def test_sliding_window_examples_hand_worked(tmp_path):
    import pandas as pd

    from fulcrum.core import schema as S
    from offline.model.examples import build_examples, history_batch
    from offline.model.interactions import load_interactions

    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2011-01-01", tz="UTC")
    # user u: day 0 buys A, day 1 buys A+B, day 3 buys C, day 20 buys D (test side: day 30 E)
    rows = [("u", "A", 0), ("u", "A", 1), ("u", "B", 1), ("u", "C", 3), ("u", "D", 20), ("u", "E", 30)]
    ev = pd.DataFrame(
        {
            S.EVENT_ID: [f"e{i}" for i in range(len(rows))],
            S.USER_ID: [r[0] for r in rows],
            S.ITEM_ID: [r[1] for r in rows],
            S.EVENT_TYPE: "PURCHASE",
            S.QUANTITY: 1.0,
            S.PRICE: 1.0,
            S.TIMESTAMP: [t0 + r[2] * day for r in rows],
            S.SESSION_ID: "s",
            S.SPLIT: ["train"] * 5 + ["test"],
        }
    )
    items = pd.DataFrame(
        {S.ITEM_ID: list("ABCDE"), S.ITEM_TEXT: list("abcde"), S.PRICE: 1.0, S.FIRST_SEEN: t0}
    )
    ev.to_parquet(tmp_path / S.EVENTS_FILE)
    items.to_parquet(tmp_path / S.ITEMS_FILE)
    inter = load_interactions(tmp_path)
    # cuts with history: day 1 (targets within 7 days: A, B, C; new only -> B, C),
    # day 3 (C), day 20 (D). Day 0 has no history.
    ex = build_examples(inter, -np.inf, inter.train_end, horizon_days=7, new_only=True)
    got = [sorted(inter.items["item_id"][ex.target[ex.ptr[c] : ex.ptr[c + 1]]]) for c in range(ex.n_cuts)]
    assert got == [["B", "C"], ["C"], ["D"]]
    # next basket only, every purchase: day 1 -> A, B
    ex0 = build_examples(inter, -np.inf, inter.train_end, horizon_days=0, new_only=False)
    assert sorted(inter.items["item_id"][ex0.target[ex0.ptr[0] : ex0.ptr[1]]]) == ["A", "B"]
    # the day-20 history holds the 4 earlier events (right-aligned); ages in days 20, 19, 19, 17
    items_b, types_b, age_b, mask_b = history_batch(inter, ex.user[2:], ex.hist_end[2:], ex.time[2:], 6)
    assert mask_b.tolist() == [[0, 0, 1, 1, 1, 1]]
    assert sorted(age_b[0, 2:].tolist()) == [17.0, 19.0, 19.0, 20.0]
    assert (types_b[0, :2] == 0).all()


def test_svd_init_groups_co_purchased_items():
    from offline.model.cooccurrence_init import svd_item_factors

    # users 0, 1 buy items 0 and 1; users 2, 3 buy items 2 and 3 (user 3 only item 2); item 4 unbought.
    # Two blocks -> rank-2 factors: items of a block point the same way, blocks are orthogonal.
    users = np.array([0, 0, 1, 1, 2, 2, 3])
    items = np.array([0, 1, 0, 1, 2, 3, 2])
    f = svd_item_factors(users, items, n_users=4, n_items=5, dim=2, scale=1.0)
    assert f.shape == (5, 2)
    cos = lambda a, b: float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))  # noqa: E731
    assert cos(f[0], f[1]) == pytest.approx(1.0, abs=1e-5)
    assert cos(f[2], f[3]) == pytest.approx(1.0, abs=1e-5)
    assert abs(cos(f[0], f[2])) < 1e-5
    assert (f[4] == 0).all()  # never bought -> no residual
    assert np.linalg.norm(f[:4], axis=1).mean() == pytest.approx(1.0, rel=1e-5)  # rescaled to `scale`
