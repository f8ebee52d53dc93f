"""``export_bundle``: a run folder (offline.model.train_run) -> a verified, versioned bundle folder.

Everything is written into a temporary folder next to the destination; the ONNX graphs are
checked against PyTorch on real inputs (item texts of the catalogue, real user histories, real
ranking rows; max |diff| <= 1e-4) and only then is the folder renamed to ``<out>/<version>``.
Any failure raises :class:`ExportError` and leaves nothing behind.

The named steps, in order: ``run_inputs.load_run`` -> ``static_files.write_static_files`` ->
``run_inputs.parity_inputs`` -> ``graphs.export_graphs`` -> ``graphs.check_graphs`` /
``graphs.golden_probes`` -> ``derived_text_graphs`` (int8 item encoder, Search's dense space) ->
``manifest_body.manifest_body`` + ``manifest.write_manifest`` -> sign -> ``publish``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fulcrum.core import bundle_format as bf
from offline.export.run_inputs import ParityInputs, RunInputs

log = logging.getLogger(__name__)


def export_bundle(
    run_dir: str | Path,
    out_root: str | Path,
    int8_min_cosine: float | None = None,
    tamper: Any = None,
    sign: bool = True,
    ann_min_items: int | None = None,
) -> Path:
    """Build, check and publish a bundle; returns ``<out_root>/<version>`` (LATEST points to it).

    ``tamper`` (tests only) is called with the temporary folder after the ONNX files are written
    and before the parity checks, to prove a drifted graph is refused. ``ann_min_items``:
    catalogues of at least this many items get ANN indexes (offline/export/ann.py; default
    ``fulcrum.core.ann_index.EXPORT_MIN_ITEMS``).
    """
    from fulcrum.core import ann_index
    from fulcrum.core.manifest import write_manifest
    from offline.export.ann import write_ann_indexes
    from offline.export.graphs import check_graphs, export_graphs, golden_probes
    from offline.export.manifest_body import manifest_body
    from offline.export.publish import point_latest, publish_folder
    from offline.export.run_inputs import load_run, parity_inputs
    from offline.export.static_files import write_static_files

    run_dir, out_root = Path(run_dir), Path(out_root)
    run = load_run(run_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_root))
    try:
        static = write_static_files(run_dir, tmp, run)
        feeds = parity_inputs(run_dir, tmp, run)
        wrapped_ranker = export_graphs(run, feeds, tmp)
        if tamper is not None:
            tamper(tmp)
        parity = check_graphs(run, feeds, wrapped_ranker, tmp)
        probes = golden_probes(run, feeds)
        min_cos = (
            run.info["config"].get("int8_min_cosine", 0.98) if int8_min_cosine is None else int8_min_cosine
        )
        int8, search = derived_text_graphs(run_dir, tmp, run, feeds, min_cos)
        # ANN indexes over the item vectors and Search's vectors (offline/export/ann.py)
        ann = write_ann_indexes(tmp, ann_index.EXPORT_MIN_ITEMS if ann_min_items is None else ann_min_items)
        body = manifest_body(tmp, run, static, parity, int8, search, probes)
        body[ann_index.MANIFEST_KEY] = ann
        manifest = write_manifest(tmp, body)
        if sign:  # published bundles only: a staged candidate is signed when promoted
            from fulcrum.core.bundle_signature import sign_if_configured

            sign_if_configured(tmp)
        final = publish_folder(tmp, out_root, manifest["version"])
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(out_root, final)
    return final


def derived_text_graphs(
    run_dir: Path, tmp: Path, run: RunInputs, feeds: ParityInputs, min_cos: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(int8 item encoder block, search space block): the int8 item encoder, kept when its mean
    cosine to the float graph is at least ``min_cos`` (offline/export/quantize.py), and Search's
    dense space -- the pooled text graph and item vectors (offline/export/search_space.py)."""
    from offline.export.quantize import quantize_item_encoder
    from offline.export.search_space import write_search_space

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # onnxruntime.quantization logs per tensor on root
    try:
        int8 = quantize_item_encoder(
            tmp / bf.ITEM_ENCODER, tmp / bf.ITEM_ENCODER_INT8, feeds.text_feeds, min_cos
        )
        search = write_search_space(tmp, run_dir, run.tower, run.tok, feeds.text_feeds, feeds.pick, min_cos)
    finally:
        root.setLevel(level)
    log.info(
        "int8 item encoder: cosine %.4f, speed-up %.2fx, kept=%s",
        int8["cosine_mean"],
        int8["speedup"],
        int8["kept"],
    )
    return int8, search
