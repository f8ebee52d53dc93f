"""The bundle: the only hand-off between offline and online.

A bundle is a folder::

    manifest.json            format, version, created_at, git_commit, config, data fingerprint,
                             models (file, inputs, outputs), max lengths, text template,
                             metrics, files {relative path: sha256}
    item_encoder.onnx        input_ids int64 [B, L], attention_mask int64 [B, L]
                             -> embedding float32 [B, D], L2-normalised (also the query encoder)
    item_encoder.int8.onnx   optional int8 variant (only if pooled cosine >= 0.98 vs fp32)
    user_encoder.onnx        hist_emb float32 [B, T, D], hist_type int64 [B, T] (EVENT_TYPE_CODE,
                             0 = padding), hist_age_days float32 [B, T], hist_mask float32 [B, T]
                             -> user_embedding float32 [B, D], L2-normalised
    ranker.onnx              features float32 [B, F] (fulcrum.core.rank_features order)
                             -> purchase_prob float32 [B], cancel_prob float32 [B]
    tokenizer.json           the Hugging Face fast tokenizer of the item encoder
    items.parquet            item_id, text, price, first_seen, purchases, impressions,
                             cancel_rate, popularity_rank (row i <-> embedding row i)
    item_embeddings.npy      float32 [N, D], L2-normalised
    item_text_embeddings.npy optional float32 [N, D]: the item encoder's own (text-only) vector of
                             each item, the space queries live in (Search compares against it)
    item_ann.faiss           optional HNSW index over item_embeddings (catalogues >= the export's
                             ann_min_items); search_ann.faiss over Search's vectors when they are
                             another matrix; the manifest's ``ann`` block describes them
                             (fulcrum/core/ann_index.py)

Both sides import the names below; neither hard-codes a file name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

BUNDLE_FORMAT = "fulcrum-bundle/1"
MANIFEST = "manifest.json"
ITEM_ENCODER = "item_encoder.onnx"
ITEM_ENCODER_INT8 = "item_encoder.int8.onnx"
USER_ENCODER = "user_encoder.onnx"
RANKER = "ranker.onnx"
TOKENIZER = "tokenizer.json"
ITEMS = "items.parquet"
ITEM_EMBEDDINGS = "item_embeddings.npy"
ITEM_TEXT_EMBEDDINGS = "item_text_embeddings.npy"

# input / output names of the ONNX graphs
IN_INPUT_IDS = "input_ids"
IN_ATTENTION_MASK = "attention_mask"
OUT_EMBEDDING = "embedding"
IN_HIST_EMB = "hist_emb"
IN_HIST_TYPE = "hist_type"
IN_HIST_AGE = "hist_age_days"
IN_HIST_MASK = "hist_mask"
OUT_USER_EMBEDDING = "user_embedding"
IN_FEATURES = "features"
OUT_PURCHASE = "purchase_prob"
OUT_CANCEL = "cancel_prob"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
