"""ONNX Runtime vs PyTorch on the same real inputs: the gate every exported graph must pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from offline.export.errors import ExportError

FP32_TOLERANCE = 1e-4


def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def max_abs_diff(
    path: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    reference: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]],
) -> float:
    """Largest |ORT - torch| over every output of every feed."""
    sess = ort_session(path)
    worst = 0.0
    for feed in feeds:
        got = sess.run(None, feed)
        want = reference(feed)
        if len(got) != len(want):
            raise ExportError(f"{path.name}: {len(got)} outputs, PyTorch gives {len(want)}")
        for g, w in zip(got, want, strict=True):
            g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
            if g.shape != w.shape:
                raise ExportError(f"{path.name}: output shape {g.shape} != PyTorch {w.shape}")
            if not np.isfinite(g).all():
                raise ExportError(f"{path.name}: ONNX Runtime output has NaN/inf")
            worst = max(worst, float(np.abs(g - w).max()) if g.size else 0.0)
    return worst


def check_parity(name: str, path: Path, feeds, reference, tol: float = FP32_TOLERANCE) -> float:
    """Raise ExportError when the graph drifts from PyTorch by more than ``tol``."""
    diff = max_abs_diff(path, feeds, reference)
    if not diff <= tol:
        raise ExportError(
            f"{name}: ONNX Runtime differs from PyTorch by {diff:.3g} (> {tol:g}); bundle refused"
        )
    return diff
