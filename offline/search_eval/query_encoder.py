"""A bundle's Search query encoder, run the way serving runs it: ONNX Runtime on the bundle's
search encoder (``fulcrum.core.search.space``; older bundles: ``item_encoder.onnx`` or its int8
variant), the bundle's ``tokenizer.json`` truncated to the manifest's text length, no padding
for a single query, L2-normalised output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.search import space


class BundleQueryEncoder:
    def __init__(self, bundle: Path, int8: bool = False, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        manifest = json.loads((bundle / bf.MANIFEST).read_text())
        name = space.encoder_file(manifest["files"])  # the pooled search space, as serving
        if name is None:
            name = (
                bf.ITEM_ENCODER_INT8
                if int8 and bf.ITEM_ENCODER_INT8 in manifest["files"]
                else bf.ITEM_ENCODER
            )
        self.file = name
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(bundle / name), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        length = int((manifest.get("max_lengths") or {}).get("text", 32))
        self.tokenizer = Tokenizer.from_file(str(bundle / bf.TOKENIZER))
        self.tokenizer.enable_truncation(max_length=length)
        self.tokenizer.no_padding()

    def __call__(self, text: str) -> np.ndarray:
        enc = self.tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        feeds = {bf.IN_INPUT_IDS: ids, bf.IN_ATTENTION_MASK: np.ones_like(ids)}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (out,) = self.session.run([bf.OUT_EMBEDDING], feeds)
        vec = np.asarray(out[0], dtype=np.float32)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)
