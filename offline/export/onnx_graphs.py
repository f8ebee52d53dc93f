"""torch -> ONNX for the bundle's three graphs.

Uses the TorchScript-based exporter (``dynamo=False``): the torch.export-based default needs
``onnxscript`` (not a dependency) and its dynamic-shape handling of the BERT layers is less
predictable; the legacy path with ``dynamic_axes`` gives dynamic batch and sequence axes at
opset 17 and is checked against PyTorch by offline.export.parity before anything is kept.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from fulcrum.core import bundle_format as bf

OPSET = 17


class _RankerOutputs(nn.Module):
    """Normalises a ranker's output to the (purchase_prob [B], cancel_prob [B]) pair."""

    def __init__(self, ranker: nn.Module) -> None:
        super().__init__()
        self.ranker = ranker

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.ranker(features)
        if isinstance(out, (tuple, list)):
            return out[0].reshape(-1), out[1].reshape(-1)
        return out[:, 0], out[:, 1]


def _export(
    module: nn.Module,
    args: tuple,
    path: Path,
    inputs: list[str],
    outputs: list[str],
    axes: dict[str, dict[int, str]],
) -> None:
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notices
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def export_item_encoder(tower: nn.Module, ids: torch.Tensor, mask: torch.Tensor, path: Path) -> None:
    _export(
        tower,
        (ids, mask),
        path,
        [bf.IN_INPUT_IDS, bf.IN_ATTENTION_MASK],
        [bf.OUT_EMBEDDING],
        {
            bf.IN_INPUT_IDS: {0: "batch", 1: "seq"},
            bf.IN_ATTENTION_MASK: {0: "batch", 1: "seq"},
            bf.OUT_EMBEDDING: {0: "batch"},
        },
    )


def export_user_encoder(user: nn.Module, sample: tuple[torch.Tensor, ...], path: Path) -> None:
    names = [bf.IN_HIST_EMB, bf.IN_HIST_TYPE, bf.IN_HIST_AGE, bf.IN_HIST_MASK]
    axes = {n: {0: "batch", 1: "history"} for n in names}
    axes[bf.OUT_USER_EMBEDDING] = {0: "batch"}
    _export(user, sample, path, names, [bf.OUT_USER_EMBEDDING], axes)


def export_ranker(ranker: nn.Module, features: torch.Tensor, path: Path) -> nn.Module:
    """Exports and returns the wrapped module whose outputs the ONNX graph reproduces."""
    wrapped = _RankerOutputs(ranker).eval()
    _export(
        wrapped,
        (features,),
        path,
        [bf.IN_FEATURES],
        [bf.OUT_PURCHASE, bf.OUT_CANCEL],
        {bf.IN_FEATURES: {0: "batch"}, bf.OUT_PURCHASE: {0: "batch"}, bf.OUT_CANCEL: {0: "batch"}},
    )
    return wrapped


def io_signature(path: Path, known: dict[str, list] | None = None) -> dict[str, list[dict]]:
    """Input/output names, dtypes and shapes (symbolic axes by name) of an ONNX file; ``known``
    overrides shapes the exporter left as generated symbols (e.g. the embedding width)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values) -> list[dict]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
            out.append(
                {
                    "name": v.name,
                    "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                    "shape": (known or {}).get(v.name, shape),
                }
            )
        return out

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output)}
