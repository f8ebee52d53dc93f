"""ONNX Runtime sessions of a bundle: options for a small CPU box, CUDA with IO binding.

The CUDA path (IO binding, session confirmation) could not be exercised on the development
machine (no GPU); it is written against the documented onnxruntime API and falls back to CPU
when the CUDA session does not actually get the CUDA provider.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fulcrum.core.bundle.providers import CPU, CUDA
from fulcrum.core.errors import BundleInvalid

log = logging.getLogger(__name__)


#: threads that run ONNX Runtime batches at once (the server's inference executor)
INFERENCE_THREADS = 2


def auto_intra_op_threads(cpus: int | None = None) -> int:
    """Intra-op threads per session when the config says 0: the cores left once the event loop
    has one, shared by the ``INFERENCE_THREADS`` batches that may run at once; at least 1.

    2 cores -> 1 (measured on the reference machine: a user-encoder batch of 32 took 0.70 ms
    with 1 thread and 0.92 ms with 2, batch 1 the same, because the second ORT thread competes
    with the event loop and the load for the same two cores); 8 cores -> 3; 16 cores -> 7.
    """
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, (n - 1) // INFERENCE_THREADS)


def session_options(intra_op_threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # requests are parallelised by batching (and by the executor's threads), not by inter-op
    # threads; worker threads never spin, so idle ORT threads do not steal the loop's core
    opts.intra_op_num_threads = intra_op_threads or auto_intra_op_threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


class OrtModel:
    """One ONNX graph: ``run(feeds) -> {output name: array}``."""

    def __init__(self, path: Path, provider: str, intra_op_threads: int) -> None:
        import onnxruntime as ort

        providers = [CUDA, CPU] if provider == CUDA else [CPU]
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=session_options(intra_op_threads), providers=providers
            )
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise BundleInvalid(f"{path.name}: onnxruntime cannot load it ({e})") from e
        self.name = path.name
        self.provider = self.session.get_providers()[0]
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.inputs = {i.name: i for i in self.session.get_inputs()}

    def require(self, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
        missing = [n for n in inputs if n not in self.input_names] + [
            n for n in outputs if n not in self.output_names
        ]
        if missing:
            raise BundleInvalid(
                f"{self.name}: missing inputs/outputs {missing}; has inputs "
                f"{list(self.input_names)} outputs {list(self.output_names)}"
            )

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.provider == CUDA:
            return self._run_bound(feeds)
        out = self.session.run(None, dict(feeds))
        return dict(zip(self.output_names, out, strict=True))

    def _run_bound(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # IO binding: inputs copied to the device once, outputs fetched once after the run
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in self.output_names:
            binding.bind_output(name)
        self.session.run_with_iobinding(binding)
        return dict(zip(self.output_names, binding.copy_outputs_to_cpu(), strict=True))
