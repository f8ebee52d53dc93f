"""The manifest's body for a freshly exported bundle: the run's config, data fingerprint, metrics
and stages (run.json) plus what the export measured and wrote (``write_manifest`` adds version,
created_at, git commit and file hashes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fulcrum.core import bundle_format as bf
from fulcrum.core.rank_features import RANK_FEATURES
from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.export.run_inputs import RunInputs
from offline.export.static_files import StaticFiles


def manifest_body(
    tmp: Path,
    run: RunInputs,
    static: StaticFiles,
    parity: dict[str, float],
    int8: dict[str, Any],
    search: dict[str, Any],
    probes: dict[str, Any],
) -> dict[str, Any]:
    from offline.export import onnx_graphs as og

    info, emb = run.info, run.emb
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
    return {
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
        **({"hybrid": static.hybrid} if static.hybrid else {}),
        "lexical_index": static.lexical,
        "search_space": search,
        "probes": probes,
        "train_created_at": info.get("created_at"),
        "counts": info.get("counts", {}),
    }
