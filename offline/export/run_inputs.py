"""What an export reads from a run folder (``offline.model.run_layout``) and the real inputs its
parity checks feed both PyTorch and ONNX Runtime: item texts of the catalogue (+ three edge
cases), the run's sampled user histories and ranking rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.rank_features import RANK_FEATURES
from fulcrum.core.text import render_item_text
from offline.export.errors import ExportError
from offline.model import run_layout as rl

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class RunInputs:
    info: dict[str, Any]  # run.json
    tower: Any  # TextTower (eval)
    user: Any  # UserTower (eval)
    ranker: Any  # the ranking head module (eval)
    tok: Any  # tokenizers.Tokenizer
    samples: dict[str, np.ndarray]  # samples.npz
    emb: np.ndarray  # item_embeddings.npy as float32


def load_run(run_dir: Path) -> RunInputs:
    import torch

    from offline.model.text_tower import TextTower, load_bert, load_tokenizer
    from offline.model.user_tower import UserTower

    required = (rl.RUN_JSON, rl.TOWERS, rl.RANKER_PT, rl.SAMPLES, rl.ITEMS, rl.ITEM_EMBEDDINGS, rl.TOKENIZER)
    for name in required:
        if not (run_dir / name).is_file():
            raise ExportError(f"{run_dir}: {name} missing (is this a `fulcrum train` run folder?)")
    info = json.loads((run_dir / rl.RUN_JSON).read_text())
    towers = torch.load(run_dir / rl.TOWERS, weights_only=False)
    tower = TextTower(load_bert(run_dir / rl.BERT_DIR), towers["dim"], towers["train_layers"]).eval()
    tower.proj.load_state_dict(towers["proj"])
    user = UserTower(**towers["user_kwargs"]).eval()
    user.load_state_dict(towers["user"])
    ranker = torch.load(run_dir / rl.RANKER_PT, weights_only=False).eval()
    tok = load_tokenizer(run_dir / rl.BERT_DIR, info["max_lengths"]["item_text_tokens"])
    samples = dict(np.load(run_dir / rl.SAMPLES))
    emb = np.load(run_dir / rl.ITEM_EMBEDDINGS).astype(np.float32)
    return RunInputs(info, tower, user, ranker, tok, samples, emb)


def text_feeds(tok, texts: list[str], batch: int = 16) -> list[Feed]:
    """Tokenized ``texts`` as item-encoder feeds of at most ``batch`` rows."""
    from offline.model.text_tower import tokenize

    feeds = []
    for s in range(0, len(texts), batch):
        ids, mask = tokenize(tok, texts[s : s + batch])
        feeds.append({bf.IN_INPUT_IDS: ids, bf.IN_ATTENTION_MASK: mask})
    return feeds


@dataclass(frozen=True)
class ParityInputs:
    pick: np.ndarray  # catalogue rows whose texts are in ``texts``
    texts: list[str]
    text_feeds: list[Feed]
    user_feeds: list[Feed]
    rank_feeds: list[Feed]


def parity_inputs(run_dir: Path, bundle_dir: Path, run: RunInputs) -> ParityInputs:
    """Real feeds for every graph: 64 catalogue texts (seeded pick from the bundle's items) and
    three edge cases; the run's user histories in batches of 16 plus a shorter history length;
    its ranking rows in batches of 32 (zeros when the run has none)."""
    import pandas as pd

    items = pd.read_parquet(bundle_dir / bf.ITEMS)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(items), size=min(64, len(items)), replace=False)
    texts = [render_item_text(t) for t in items["text"].iloc[pick]] + [
        "red heart",
        "",
        "a b c d e f g h i j",
    ]
    samples, emb = run.samples, run.emb
    hist = samples["hist_items"]
    if len(hist) == 0:
        raise ExportError(f"{run_dir}: no user histories to check the user encoder with")
    user_feeds = []
    for s in range(0, len(hist), 16):
        sl = slice(s, s + 16)
        user_feeds.append(
            {
                bf.IN_HIST_EMB: emb[hist[sl]],
                bf.IN_HIST_TYPE: samples["hist_type"][sl],
                bf.IN_HIST_AGE: samples["hist_age"][sl].astype(np.float32),
                bf.IN_HIST_MASK: samples["hist_mask"][sl].astype(np.float32),
            }
        )
    user_feeds.append({k: v[:2, -7:] for k, v in user_feeds[0].items()})  # another T
    feats = samples["rank_features"].astype(np.float32)
    if len(feats) == 0:
        feats = np.zeros((4, len(RANK_FEATURES)), dtype=np.float32)
    rank_feeds = [{bf.IN_FEATURES: feats[s : s + 32]} for s in range(0, len(feats), 32)]
    return ParityInputs(pick, texts, text_feeds(run.tok, texts), user_feeds, rank_feeds)
