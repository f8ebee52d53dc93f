"""A tiny but real bundle in well under a minute: synthetic shop + tiny random BERT + the real
training and export code paths. For tests and benchmarks of the serving side::

    from offline.export.tiny import build_tiny_bundle
    bundle_dir = build_tiny_bundle(tmp_path / "tiny")   # -> <tmp>/bundles/<version>
"""

from __future__ import annotations

from pathlib import Path

from offline.export.synthetic_data import synthetic_words, write_synthetic_prepared
from offline.export.tiny_bert import build_tiny_bert

#: the tiny training config (the embedded defaults, shrunk)
TINY_CONFIG: dict = {
    "dim": 16,
    "threads": 1,
    "text": {"steps": 10, "batch_size": 16, "max_len": 16},
    "user": {"history_len": 10, "layers": 1, "heads": 2},
    "retrieval": {"epochs": 3, "batch_size": 64, "num_negatives": 16, "validation_days": 10},
}


def build_tiny_bundle(
    out_dir: str | Path,
    seed: int = 0,
    ranker: str = "ranking",
    bert_dir: str | Path | None = None,
    overrides: dict | None = None,
) -> Path:
    """Write data/, bert/ (unless ``bert_dir``), run/ and bundles/<version> under ``out_dir``;
    returns the bundle folder. ``ranker``: ranking (default) or off."""
    from offline.export.bundle import export_bundle
    from offline.model.train_run import train_run
    from offline.train_config import config_from_dict

    out = Path(out_dir)
    data = write_synthetic_prepared(out / "data", seed=seed)
    bert = (
        Path(bert_dir)
        if bert_dir is not None
        else build_tiny_bert(out / "bert", synthetic_words(), seed=seed)
    )
    cfg_dict = {**TINY_CONFIG, "seed": seed, "ranker": ranker}
    cfg_dict["text"] = {**TINY_CONFIG["text"], "model_path": str(bert)}
    for key, value in (overrides or {}).items():
        cfg_dict[key] = {**cfg_dict.get(key, {}), **value} if isinstance(value, dict) else value
    run = train_run(data, config_from_dict(cfg_dict), out / "run", progress=False)
    return export_bundle(run.run_dir, out / "bundles")
