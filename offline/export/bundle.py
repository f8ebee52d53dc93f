"""``export_bundle``: a run folder (offline.model.train_run) -> a verified, versioned bundle folder.

Everything is written into a temporary folder next to the destination; the ONNX graphs are
checked against PyTorch on real inputs (item texts of the catalogue, real user histories, real
ranking rows; max |diff| <= 1e-4) and only then is the folder renamed to ``<out>/<version>``.
Any failure raises :class:`ExportError` and leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.rank_features import RANK_FEATURES
from fulcrum.core.schema import EVENT_TYPE_CODE
from fulcrum.core.text import render_item_text
from offline.export.errors import ExportError

log = logging.getLogger(__name__)
LATEST = "LATEST"


def _load_run(run_dir: Path):
    import torch

    from offline.model import train_run as tr
    from offline.model.text_tower import TextTower, load_bert, load_tokenizer
    from offline.model.user_tower import UserTower

    for name in (
        tr.RUN_JSON,
        tr.TOWERS,
        tr.RANKER_PT,
        tr.SAMPLES,
        "items.parquet",
        "item_embeddings.npy",
        f"{tr.BERT_DIR}/tokenizer.json",
    ):
        if not (run_dir / name).is_file():
            raise ExportError(f"{run_dir}: {name} missing (is this a `fulcrum train` run folder?)")
    info = json.loads((run_dir / tr.RUN_JSON).read_text())
    towers = torch.load(run_dir / tr.TOWERS, weights_only=False)
    tower = TextTower(load_bert(run_dir / tr.BERT_DIR), towers["dim"], towers["train_layers"]).eval()
    tower.proj.load_state_dict(towers["proj"])
    user = UserTower(**towers["user_kwargs"]).eval()
    user.load_state_dict(towers["user"])
    ranker = torch.load(run_dir / tr.RANKER_PT, weights_only=False).eval()
    tok = load_tokenizer(run_dir / tr.BERT_DIR, info["max_lengths"]["item_text_tokens"])
    return info, tower, user, ranker, tok, dict(np.load(run_dir / tr.SAMPLES))


def _text_feeds(tok, texts: list[str], batch: int = 16) -> list[dict[str, np.ndarray]]:
    from offline.model.text_tower import tokenize

    feeds = []
    for s in range(0, len(texts), batch):
        ids, mask = tokenize(tok, texts[s : s + batch])
        feeds.append({bf.IN_INPUT_IDS: ids, bf.IN_ATTENTION_MASK: mask})
    return feeds


def export_bundle(
    run_dir: str | Path,
    out_root: str | Path,
    int8_min_cosine: float | None = None,
    tamper: Any = None,
    sign: bool = True,
) -> Path:
    """Build, check and publish a bundle; returns ``<out_root>/<version>`` (LATEST points to it).

    ``tamper`` (tests only) is called with the temporary folder after the ONNX files are written
    and before the parity checks, to prove a drifted graph is refused.
    """
    import torch

    from offline.export import onnx_graphs as og
    from offline.export.lexical import write_lexical_index
    from offline.export.manifest import write_manifest
    from offline.export.parity import check_parity
    from offline.export.quantize import quantize_item_encoder
    from offline.export.search_space import write_search_space

    run_dir, out_root = Path(run_dir), Path(out_root)
    info, tower, user, ranker, tok, samples = _load_run(run_dir)
    emb = np.load(run_dir / "item_embeddings.npy").astype(np.float32)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_root))
    try:
        # ---- static files ------------------------------------------------------------------
        shutil.copy2(run_dir / "items.parquet", tmp / bf.ITEMS)
        np.save(tmp / bf.ITEM_EMBEDDINGS, emb)
        hybrid = _copy_hybrid(run_dir, tmp, info.get("hybrid"), len(emb))
        if (run_dir / "text_pooled.npy").is_file():  # the text-only vectors Search compares with
            with torch.no_grad():
                pooled = torch.from_numpy(np.load(run_dir / "text_pooled.npy"))
                np.save(tmp / bf.ITEM_TEXT_EMBEDDINGS, tower.project(pooled).numpy().astype(np.float32))
        tok.save(str(tmp / bf.TOKENIZER))
        lexical = write_lexical_index(tmp)  # Search's BM25 index (offline/export/lexical.py)

        # ---- real inputs -------------------------------------------------------------------
        import pandas as pd

        items = pd.read_parquet(tmp / bf.ITEMS)
        rng = np.random.default_rng(0)
        pick = rng.choice(len(items), size=min(64, len(items)), replace=False)
        texts = [render_item_text(t) for t in items["text"].iloc[pick]] + [
            "red heart",
            "",
            "a b c d e f g h i j",
        ]
        text_feeds = _text_feeds(tok, texts)
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

        # ---- ONNX --------------------------------------------------------------------------
        f0 = text_feeds[0]
        og.export_item_encoder(
            tower,
            torch.from_numpy(f0[bf.IN_INPUT_IDS]),
            torch.from_numpy(f0[bf.IN_ATTENTION_MASK]),
            tmp / bf.ITEM_ENCODER,
        )
        og.export_user_encoder(
            user, tuple(torch.from_numpy(v) for v in user_feeds[0].values()), tmp / bf.USER_ENCODER
        )
        wrapped_ranker = og.export_ranker(
            ranker, torch.from_numpy(rank_feeds[0][bf.IN_FEATURES]), tmp / bf.RANKER
        )
        if tamper is not None:
            tamper(tmp)

        def ref(module):
            def run(feed):
                with torch.no_grad():
                    out = module(*(torch.from_numpy(v) for v in feed.values()))
                outs = out if isinstance(out, tuple) else (out,)
                return [o.numpy() for o in outs]

            return run

        parity = {
            "item_encoder": check_parity(bf.ITEM_ENCODER, tmp / bf.ITEM_ENCODER, text_feeds, ref(tower)),
            "user_encoder": check_parity(bf.USER_ENCODER, tmp / bf.USER_ENCODER, user_feeds, ref(user)),
            "ranker": check_parity(bf.RANKER, tmp / bf.RANKER, rank_feeds, ref(wrapped_ranker)),
        }
        # the catalogue vectors of items without an id residual must equal the encoder's output
        log.info("parity (max |ORT - torch|): %s", parity)
        # golden probes: the server re-encodes them at load (serve-time parity, online/bundle/probes.py)
        probe_texts = texts[:3] + ["red heart"]
        (probe_out,) = ref(tower)(_text_feeds(tok, probe_texts, batch=len(probe_texts))[0])
        probes = {"texts": probe_texts, "item_encoder": np.round(probe_out, 6).tolist()}

        min_cos = info["config"].get("int8_min_cosine", 0.98) if int8_min_cosine is None else int8_min_cosine
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.WARNING))  # onnxruntime.quantization logs per tensor on root
        try:
            int8 = quantize_item_encoder(
                tmp / bf.ITEM_ENCODER, tmp / bf.ITEM_ENCODER_INT8, text_feeds, min_cos
            )
            # Search's dense space: the pooled text graph and item vectors (search_space.py)
            search = write_search_space(tmp, run_dir, tower, tok, text_feeds, pick, min_cos)
        finally:
            root.setLevel(level)
        log.info(
            "int8 item encoder: cosine %.4f, speed-up %.2fx, kept=%s",
            int8["cosine_mean"],
            int8["speedup"],
            int8["kept"],
        )

        # ---- manifest ----------------------------------------------------------------------
        dim = int(emb.shape[1])
        models = {
            "item_encoder": {
                "file": bf.ITEM_ENCODER,
                "role": "item and query text encoder",
                "int8_file": bf.ITEM_ENCODER_INT8 if int8["kept"] else None,
                **og.io_signature(tmp / bf.ITEM_ENCODER, {bf.OUT_EMBEDDING: ["batch", dim]}),
            },
            "user_encoder": {
                "file": bf.USER_ENCODER,
                **og.io_signature(tmp / bf.USER_ENCODER, {bf.OUT_USER_EMBEDDING: ["batch", dim]}),
                "notes": "no positional encoding: order via hist_age_days; any padding side",
            },
            "ranker": {
                "file": bf.RANKER,
                "source": info.get("ranker", {}),
                **og.io_signature(tmp / bf.RANKER),
            },
        }
        lengths = info["max_lengths"]
        body = {
            "config": info["config"],
            "data_fingerprint": info["data_fingerprint"],
            "models": models,
            "embedding_dim": int(emb.shape[1]),
            "item_count": int(emb.shape[0]),
            "max_lengths": {"text": lengths["item_text_tokens"], "history": lengths["history_events"]},
            "text_template": info["text_template"],
            "tokenizer": {
                "file": bf.TOKENIZER,
                "truncation": lengths["item_text_tokens"],
                "padding": "right",
            },
            "event_type_codes": EVENT_TYPE_CODE,
            "rank_features": list(RANK_FEATURES),
            "item_embeddings": info.get("item_embeddings", ""),
            "metrics": {
                **info["metrics"],
                "parity_max_abs_diff": parity,
                "int8_item_encoder": int8,
                "timings": info.get("timings", {}),
                # what each optional stage did (GetModelInfo returns the metrics block)
                "stages": info.get("stages", {}),
            },
            # the data the model learnt from: `evaluate --bundle` refuses a bundle whose
            # training reaches the evaluation cut (offline/report/bundle_guard.py)
            "training_cut": info.get("training_cut", {}),
            **({"hybrid": hybrid} if hybrid else {}),
            "lexical_index": lexical,
            "search_space": search,
            "probes": probes,
            "train_created_at": info.get("created_at"),
            "counts": info.get("counts", {}),
        }
        manifest = write_manifest(tmp, body)
        if sign:  # published bundles only: a staged candidate is signed when promoted
            from fulcrum.core.bundle_signature import sign_if_configured

            sign_if_configured(tmp)
        final = out_root / manifest["version"]
        if final.exists():
            raise ExportError(f"{final}: already exists")
        for p in (tmp, *tmp.iterdir()):
            p.chmod(0o755 if p.is_dir() else 0o644)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest(out_root, final)
    return final


def _copy_hybrid(run_dir: Path, tmp: Path, block: dict | None, n_items: int) -> dict | None:
    """Copy the hybrid retrieval files of a run (fulcrum/core/hybrid.py) into the bundle and
    return its manifest block (None when the run has no hybrid score)."""
    from fulcrum.core import hybrid as hy

    if not block:
        return None
    for name in (hy.NEIGHBOURS_FILE, hy.TREND_FILE):
        if not (run_dir / name).is_file():
            raise ExportError(f"{run_dir}: run.json has a hybrid block but {name} is missing")
        shutil.copy2(run_dir / name, tmp / name)
    table = hy.NeighbourTable.load(tmp / hy.NEIGHBOURS_FILE)
    trend = np.load(tmp / hy.TREND_FILE)
    if table.n_sources != n_items or trend.shape != (n_items,):
        raise ExportError(
            f"{run_dir}: hybrid files cover {table.n_sources} / {trend.shape} items, the catalogue {n_items}"
        )
    hy.weights_from_manifest({hy.MANIFEST_KEY: block})  # validates the weights
    return {
        **block,
        "neighbours_file": hy.NEIGHBOURS_FILE,
        "trend_file": hy.TREND_FILE,
        "score": "z(cosine) + neighbour_weight * z(co-purchase neighbours of bought items) "
        "+ trend_weight * trend (fulcrum/core/hybrid.py)",
    }


def _point_latest(out_root: Path, final: Path) -> None:
    """``<out_root>/LATEST``: a symlink to the newest bundle (replaced atomically)."""
    link = out_root / LATEST
    tmp_link = out_root / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(final.name)
    tmp_link.replace(link)
