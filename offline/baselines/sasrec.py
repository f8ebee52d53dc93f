"""A small SASRec (Kang & McAuley 2018) in torch: a causal self-attention encoder over item ids.

- Sequences: each user's purchases in time order, first occurrence of each item only (a re-buy
  carries no new "next item" to learn). Items are rows 1..n of the embedding (0 = padding).
- Model: item + learned position embeddings with ``dropout``, ``layers`` pre-norm transformer
  blocks (``dim`` wide, one head, feed-forward = dim, causal attention, no dropout inside), a
  final LayerNorm; the score of item j after position t is h_t . E_j (input and output
  embeddings shared).
- Training: next-item cross-entropy at every position; over the full catalogue when it has at
  most ``full_softmax_max`` items, else over the target plus ``negatives`` uniformly sampled
  items shared by the batch. Long histories are cut into windows of ``max_len``.
- Bounded: at most ``max_epochs`` and ``max_seconds`` of training, counted in this process's
  CPU time (``time.process_time``), so a machine shared with other jobs slows the run down but
  does not cut it to a couple of epochs. With a ``monitor`` (a
  function of the model giving the validation NDCG@10), it is evaluated every ``eval_every``
  epochs, training stops after ``patience`` evaluations without gain, the best weights are kept
  and ``best_epochs`` records when they were reached (the refit on the full train runs that
  many epochs, without a monitor).

Unknown users get popularity.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from offline.baselines.interactions import Interactions


def first_occurrences(items: np.ndarray) -> np.ndarray:
    """The items in order with later repeats dropped.

    >>> first_occurrences(np.array([3, 1, 3, 2, 1])).tolist()
    [3, 1, 2]
    """
    _, first = np.unique(items, return_index=True)
    return items[np.sort(first)]


def windows(seq: np.ndarray, max_len: int) -> list[np.ndarray]:
    """Training windows of at most ``max_len + 1`` items (input = w[:-1], target = w[1:]) that
    together cover every next-item step of ``seq`` once, the last window ending at the end.

    >>> [w.tolist() for w in windows(np.arange(6), 2)]
    [[3, 4, 5], [1, 2, 3], [0, 1]]
    """
    out, end = [], len(seq)
    while end >= 2:
        start = max(0, end - max_len - 1)
        out.append(seq[start:end])
        end = start + 1
    return out


class SASRec:
    name = "sasrec"

    def __init__(self, dim: int = 64, layers: int = 2, max_len: int = 50, dropout: float = 0.2,
                 learning_rate: float = 1e-3, batch_size: int = 256, max_epochs: int = 200,
                 max_seconds: float = 150.0, eval_every: int = 2, patience: int = 3,
                 negatives: int = 256, full_softmax_max: int = 2_000, threads: int = 2,
                 seed: int = 42) -> None:
        for field, value in (("dim", dim), ("layers", layers), ("max_len", max_len),
                             ("batch_size", batch_size), ("max_epochs", max_epochs),
                             ("eval_every", eval_every), ("patience", patience), ("threads", threads)):
            if value < 1:
                raise ValueError(f"sasrec {field}: must be positive, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"sasrec dropout: must be in [0, 1), got {dropout!r}")
        self.dim, self.layers, self.max_len, self.dropout = dim, layers, max_len, dropout
        self.learning_rate, self.batch_size, self.max_epochs = learning_rate, batch_size, max_epochs
        self.max_seconds, self.eval_every, self.patience = max_seconds, eval_every, patience
        self.negatives, self.full_softmax_max = negatives, full_softmax_max
        self.threads, self.seed = threads, seed
        self.best_epochs: int | None = None
        self.history: list[dict] = []
        self._refresh_settings(epochs_run=0, stopped="not fitted")

    def _refresh_settings(self, epochs_run: int, stopped: str) -> None:
        self.settings = {"dim": self.dim, "layers": self.layers, "heads": 1, "max_len": self.max_len,
                         "embedding_dropout": self.dropout, "learning_rate": self.learning_rate,
                         "batch_size": self.batch_size, "max_epochs": self.max_epochs,
                         "max_seconds": self.max_seconds, "epochs_run": epochs_run, "stopped": stopped,
                         "sequence": "first occurrences of purchased items", "seed": self.seed}
        if self.best_epochs is not None:
            self.settings["best_epochs"] = self.best_epochs

    # ---- data ----------------------------------------------------------------------------------
    def _sequences(self, interactions: Interactions) -> list[np.ndarray]:
        b = interactions.user_bounds()
        return [first_occurrences(interactions.ev_item[b[r]:b[r + 1]]) + 1
                for r in range(len(interactions.user_ids))]

    @staticmethod
    def _pad(rows: list[np.ndarray], width: int) -> np.ndarray:
        out = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            if len(r):
                out[i, -len(r):] = r[-width:]  # left padding: the latest item is always last
        return out

    # ---- model ---------------------------------------------------------------------------------
    def _build(self, n_items: int):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(s, n: int, dim: int, layers: int, max_len: int, dropout: float) -> None:
                super().__init__()
                s.items = nn.Embedding(n + 1, dim, padding_idx=0)
                s.pos = nn.Embedding(max_len, dim)
                s.drop = nn.Dropout(dropout)
                # dropout on the embeddings only: inside the blocks it doubled the CPU time of an
                # epoch (measured: 13 s vs 6.6 s on Online Retail)
                block = nn.TransformerEncoderLayer(dim, 1, dim, 0.0, batch_first=True, norm_first=True)
                s.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
                s.norm = nn.LayerNorm(dim)
                nn.init.normal_(s.items.weight, std=dim ** -0.5)
                with torch.no_grad():
                    s.items.weight[0].zero_()

            def forward(s, seq: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, L, dim]
                length = seq.shape[1]
                x = s.items(seq) * (s.items.embedding_dim ** 0.5) + s.pos.weight[:length][None]
                causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
                # padding: zero inputs and causal attention only (a key-padding mask would make
                # the fully padded leading rows NaN, and NaN * 0 leaks into later layers)
                x = x * (seq > 0).unsqueeze(-1).to(x.dtype)
                h = s.encoder(s.drop(x), mask=causal, is_causal=True)
                return s.norm(h)

        return Net(n_items, self.dim, self.layers, self.max_len, self.dropout)

    def fit(self, interactions: Interactions, monitor: Callable[[SASRec], float] | None = None) -> None:
        try:
            import torch
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the SASRec baseline needs torch: pip install 'fulcrum[train]'") from e
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        n = len(interactions.item_ids)
        self._inter = interactions
        self._seqs = self._sequences(interactions)
        pop = interactions.distinct_buyers()
        self._popularity = pop / max(pop.max(), 1.0)
        wins = [w for s in self._seqs for w in windows(s, self.max_len)]
        self.net = self._build(n)
        if not wins:
            raise ValueError("sasrec: no user has two distinct purchased items; nothing to learn")
        inputs = self._pad([w[:-1] for w in wins], self.max_len)
        targets = self._pad([w[1:] for w in wins], self.max_len)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.learning_rate)
        full = n <= self.full_softmax_max
        started = time.process_time()
        best, best_state, stale, epoch, stopped = -1.0, None, 0, 0, "max_epochs"
        self.history = []
        while epoch < self.max_epochs:
            if time.process_time() - started > self.max_seconds:
                stopped = "max_seconds"
                break
            self.net.train()
            order = rng.permutation(len(inputs))
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                x, y = torch.from_numpy(inputs[idx]), torch.from_numpy(targets[idx])
                h = self.net(x)[y > 0]  # [P, dim] positions with a target
                yy = y[y > 0]
                if full:
                    logits = h @ self.net.items.weight[1:].T
                    loss = torch.nn.functional.cross_entropy(logits, yy - 1)
                else:
                    neg = torch.from_numpy(rng.integers(1, n + 1, self.negatives))
                    pos_logit = (h * self.net.items(yy)).sum(-1, keepdim=True)
                    neg_logit = h @ self.net.items(neg).T
                    neg_logit = neg_logit.masked_fill(neg[None, :] == yy[:, None], float("-inf"))
                    logits = torch.cat([pos_logit, neg_logit], dim=1)
                    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(yy), dtype=torch.long))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            epoch += 1
            entry = {"epoch": epoch, "loss": total / len(order)}
            if monitor is not None and epoch % self.eval_every == 0:
                self._prepare_scoring()
                entry["validation_ndcg@10"] = score = float(monitor(self))
                if score > best + 1e-9:
                    best, stale, self.best_epochs = score, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= self.patience:
                        stopped = "early stopping"
                        self.history.append(entry)
                        break
            self.history.append(entry)
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self._prepare_scoring()
        self._refresh_settings(epochs_run=epoch, stopped=stopped)

    def _prepare_scoring(self) -> None:
        import torch

        self.net.eval()
        with torch.no_grad():
            self._item_matrix = self.net.items.weight[1:].detach().numpy().astype(np.float64)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        import torch

        seqs = self._pad([self._seqs[r] for r in np.asarray(user_rows)], self.max_len)
        with torch.no_grad():
            h = self.net(torch.from_numpy(seqs))[:, -1, :].numpy().astype(np.float64)
        return h @ self._item_matrix.T

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
