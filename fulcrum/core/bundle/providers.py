"""Which ONNX Runtime execution provider to use: a pure decision plus its probes.

``choose_provider`` is pure (tested with fake inputs). ``gpu_present`` looks for an NVIDIA
device node; the loader then confirms CUDA by creating a session and checking the providers it
actually got (ORT falls back to CPU silently when the CUDA libraries are missing).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass

from fulcrum.core.errors import ConfigError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ProviderChoice:
    provider: str  # CUDA or CPU
    reason: str


def choose_provider(requested: str, available: Sequence[str], gpu_present: bool) -> ProviderChoice:
    """``requested`` is the config value auto|cpu|cuda; ``available`` ORT's provider list."""
    if requested == "cpu":
        return ProviderChoice(CPU, "execution_provider=cpu in config")
    has_cuda = CUDA in available
    if requested == "cuda":
        if not has_cuda:
            raise ConfigError(
                "execution_provider=cuda but onnxruntime has no CUDAExecutionProvider "
                "(install onnxruntime-gpu); allowed values: auto, cpu, cuda"
            )
        if not gpu_present:
            raise ConfigError("execution_provider=cuda but no NVIDIA GPU is visible (/dev/nvidia*)")
        return ProviderChoice(CUDA, "execution_provider=cuda in config")
    if requested != "auto":
        raise ConfigError(f"execution_provider={requested!r}; allowed values: auto, cpu, cuda")
    if has_cuda and gpu_present:
        return ProviderChoice(CUDA, "auto: CUDAExecutionProvider available and a GPU is present")
    if has_cuda:
        return ProviderChoice(CPU, "auto: CUDAExecutionProvider available but no GPU device found")
    return ProviderChoice(CPU, "auto: onnxruntime has no CUDAExecutionProvider")


def gpu_present() -> bool:
    """True when an NVIDIA device node exists (the CUDA path is confirmed by a real session)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))
