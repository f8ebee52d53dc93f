"""The tiny bundle built by the real train + export code: layout, manifest, ONNX contract, and
the parity gate refusing a drifted graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import bundle_format as bf
from fulcrum.core.rank_features import N_RANK_FEATURES

pytest.importorskip("onnxruntime")


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_manifest_lists_every_file_with_its_sha256(tiny_bundle: Path):
    manifest = json.loads((tiny_bundle / bf.MANIFEST).read_text())
    on_disk = {
        p.relative_to(tiny_bundle).as_posix()
        for p in tiny_bundle.rglob("*")
        if p.is_file() and p.name != bf.MANIFEST
    }
    assert set(manifest["files"]) == on_disk
    for rel, digest in manifest["files"].items():
        assert bf.sha256_file(tiny_bundle / rel) == digest
    for name in (bf.ITEM_ENCODER, bf.USER_ENCODER, bf.RANKER, bf.TOKENIZER, bf.ITEMS, bf.ITEM_EMBEDDINGS):
        assert name in manifest["files"]
    assert manifest["format"] == bf.BUNDLE_FORMAT
    assert tiny_bundle.name == manifest["version"]
    assert (tiny_bundle.parent / "LATEST").resolve() == tiny_bundle.resolve()
    for key in (
        "created_at",
        "git_commit",
        "config",
        "data_fingerprint",
        "max_lengths",
        "text_template",
        "metrics",
    ):
        assert key in manifest
    assert manifest["config"]["dim"] == manifest["embedding_dim"]
    assert len(manifest["data_fingerprint"]["events_sha256"]) == 64
    assert manifest["metrics"]["parity_max_abs_diff"]["item_encoder"] <= 1e-4


def test_items_and_embeddings_align(tiny_bundle: Path):
    items = pd.read_parquet(tiny_bundle / bf.ITEMS)
    emb = np.load(tiny_bundle / bf.ITEM_EMBEDDINGS)
    assert emb.dtype == np.float32 and emb.shape[0] == len(items)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    for col in (
        "item_id",
        "text",
        "price",
        "first_seen",
        "purchases",
        "impressions",
        "cancel_rate",
        "popularity_rank",
    ):
        assert col in items.columns
    assert sorted(items["popularity_rank"]) == list(range(len(items)))


def test_item_encoder_dynamic_axes_and_norm(tiny_bundle: Path):
    from tokenizers import Tokenizer

    manifest = json.loads((tiny_bundle / bf.MANIFEST).read_text())
    tok = Tokenizer.from_file(str(tiny_bundle / bf.TOKENIZER))
    sess = _session(tiny_bundle / bf.ITEM_ENCODER)
    dim = manifest["embedding_dim"]
    for texts in (["red heart candle"], ["bag", "jumbo retro spot lunch bag paisley shopper", "tea"]):
        enc = tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        assert ids.shape[1] <= manifest["max_lengths"]["text"]
        (out,) = sess.run(None, {bf.IN_INPUT_IDS: ids, bf.IN_ATTENTION_MASK: mask})
        assert out.shape == (len(texts), dim)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_user_encoder_and_ranker_contract(tiny_bundle: Path):
    emb = np.load(tiny_bundle / bf.ITEM_EMBEDDINGS)
    sess = _session(tiny_bundle / bf.USER_ENCODER)
    for b, t in ((1, 3), (4, 12)):
        feed = {
            bf.IN_HIST_EMB: emb[np.arange(b * t).reshape(b, t) % len(emb)],
            bf.IN_HIST_TYPE: np.full((b, t), 4, dtype=np.int64),
            bf.IN_HIST_AGE: np.linspace(0, 20, b * t, dtype=np.float32).reshape(b, t),
            bf.IN_HIST_MASK: np.ones((b, t), dtype=np.float32),
        }
        (u,) = sess.run(None, feed)
        assert u.shape == (b, emb.shape[1])
        np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-5)
    rank = _session(tiny_bundle / bf.RANKER)
    p, c = rank.run(
        None, {bf.IN_FEATURES: np.random.default_rng(0).normal(size=(5, N_RANK_FEATURES)).astype(np.float32)}
    )
    assert p.shape == (5,) and c.shape == (5,)
    assert ((p >= 0) & (p <= 1) & (c >= 0) & (c <= 1)).all()


def test_int8_variant_only_when_cosine_passes(tiny_bundle: Path):
    manifest = json.loads((tiny_bundle / bf.MANIFEST).read_text())
    q = manifest["metrics"]["int8_item_encoder"]
    assert q["kept"] == (q["cosine_mean"] >= 0.98)
    assert (tiny_bundle / bf.ITEM_ENCODER_INT8).exists() == q["kept"]


def test_parity_gate_refuses_a_tampered_graph(tiny_bundle: Path, tmp_path: Path):
    import onnx
    from onnx import numpy_helper

    from offline.export.bundle import export_bundle
    from offline.export.errors import ExportError

    run_dir = tiny_bundle.parent.parent / "run"

    def perturb(folder: Path) -> None:
        path = folder / bf.USER_ENCODER
        model = onnx.load(str(path))
        for init in model.graph.initializer:  # a small drift of every float weight
            arr = numpy_helper.to_array(init)
            if arr.dtype == np.float32 and arr.size > 1:
                init.CopyFrom(numpy_helper.from_array(arr * 1.05 + 0.01, init.name))
        onnx.save(model, str(path))

    out = tmp_path / "bundles"
    with pytest.raises(ExportError, match="user_encoder.onnx: ONNX Runtime differs"):
        export_bundle(run_dir, out, tamper=perturb)
    assert list(out.iterdir()) == []  # nothing published, temp folder removed


def test_export_refuses_an_incomplete_run(tmp_path: Path):
    from offline.export.bundle import export_bundle
    from offline.export.errors import ExportError

    with pytest.raises(ExportError, match="missing"):
        export_bundle(tmp_path, tmp_path / "out")
