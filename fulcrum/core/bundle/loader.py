"""Load a bundle completely (verify, open sessions, read tables, warm up) before it may serve."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import bundle_format as bf
from fulcrum.core.bundle.ann import AnnSettings, load_ann
from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.bundle.encoders import History, Ranker, TextEncoder, UserEncoder
from fulcrum.core.bundle.lexical import load_lexical
from fulcrum.core.bundle.probes import check_probes
from fulcrum.core.bundle.providers import CPU, CUDA, ProviderChoice, choose_provider, gpu_present
from fulcrum.core.bundle.search_space import load_query_adapter, load_search_space, load_word_neighbours
from fulcrum.core.bundle.sessions import OrtModel
from fulcrum.core.errors import BundleInvalid, NotFound
from fulcrum.core.manifest import Manifest, load_verified_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedBundle:
    manifest: Manifest
    provider: str
    provider_reason: str
    text_encoder: TextEncoder
    user_encoder: UserEncoder
    ranker: Ranker
    catalogue: Catalogue
    #: Search's pooled text encoder (fulcrum/core/bundle/search_space.py); None: bundle has none
    search_encoder: TextEncoder | None = None


def _available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _open(path: Path, choice: ProviderChoice, threads: int) -> tuple[OrtModel, ProviderChoice]:
    model = OrtModel(path, choice.provider, threads)
    if choice.provider == CUDA and model.provider != CUDA:
        log.warning("%s: CUDA session fell back to %s (CUDA libraries missing?)", path.name, model.provider)
        return OrtModel(path, CPU, threads), ProviderChoice(
            CPU, choice.reason + "; CUDA session failed, using CPU"
        )
    return model, choice


def load_bundle(
    path: Path,
    execution_provider: str = "auto",
    intra_op_threads: int = 0,
    int8_item_encoder: bool = False,
    public_key=None,
    ann: AnnSettings | None = None,
    with_ann: bool = True,
) -> LoadedBundle:
    """Everything or nothing: any problem raises ``BundleInvalid`` (or ``NotFound``).

    ``int8_item_encoder``: encode queries and new items with ``item_encoder.int8.onnx`` when the
    manifest lists it (the catalogue's embeddings stay the bundle's fp32 ones).
    ``public_key`` (ed25519): the manifest must be signed by it (``manifest.sig``).
    Non-finite embeddings and a text template other than the plain placeholder are refused.
    ``ann``: when the bundle's ANN index serves retrieval (fulcrum/core/bundle/ann.py; defaults
    without it); an index that does not match the catalogue is refused. ``with_ann=False``: the
    index is not loaded (a process that only embeds new items, like `fulcrum ingest`).
    """
    started = time.perf_counter()
    try:
        # resolved ONCE: every file below is verified and opened under this same real folder,
        # even if a symlink such as LATEST is repointed while the bundle loads
        path = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise NotFound(f"bundle folder not found: {path}") from e
    manifest = load_verified_manifest(path, public_key)
    choice = choose_provider(execution_provider, _available_providers(), gpu_present())
    item_file = bf.ITEM_ENCODER
    if int8_item_encoder and bf.ITEM_ENCODER_INT8 in manifest.files:
        item_file = bf.ITEM_ENCODER_INT8
    elif int8_item_encoder:
        log.warning(
            "bundle %s has no %s; using the fp32 item encoder", manifest.version, bf.ITEM_ENCODER_INT8
        )
    item_model, choice = _open(path / item_file, choice, intra_op_threads)
    user_model, _ = _open(path / bf.USER_ENCODER, choice, intra_op_threads)
    rank_model, _ = _open(path / bf.RANKER, choice, intra_op_threads)
    log.info("bundle %s: execution provider %s (%s)", manifest.version, choice.provider, choice.reason)
    text_encoder = TextEncoder(item_model, str(path / bf.TOKENIZER), manifest.text_max_length)
    try:
        check_probes(manifest.raw, text_encoder, item_file == bf.ITEM_ENCODER_INT8, str(path))
    except BundleInvalid:
        raise
    except Exception as e:
        raise BundleInvalid(f"{path}: encoding the golden probes failed ({e})") from e
    user_encoder = UserEncoder(user_model, manifest.history_length)
    ranker = Ranker(rank_model)
    try:
        items = pd.read_parquet(path / bf.ITEMS)
        embeddings = np.load(path / bf.ITEM_EMBEDDINGS, allow_pickle=False)
        text_embeddings = (
            np.load(path / bf.ITEM_TEXT_EMBEDDINGS, allow_pickle=False)
            if bf.ITEM_TEXT_EMBEDDINGS in manifest.files
            else None
        )
    except Exception as e:
        raise BundleInvalid(f"{path}: cannot read items/embeddings ({e})") from e
    declared_dim = manifest.raw.get("embedding_dim")
    if declared_dim is not None and embeddings.ndim == 2 and int(declared_dim) != embeddings.shape[1]:
        raise BundleInvalid(
            f"{path}: embedding_dim {declared_dim} but item_embeddings has {embeddings.shape[1]}"
        )
    if embeddings.ndim != 2 or "item_id" not in items.columns:
        raise BundleInvalid(f"{path}: item_embeddings must be [N, D] and items must have item_id")
    for name, table in ((bf.ITEM_EMBEDDINGS, embeddings), (bf.ITEM_TEXT_EMBEDDINGS, text_embeddings)):
        if table is not None and not _all_finite(table):
            raise BundleInvalid(f"{path}: {name} holds NaN or infinite values")
    neighbours, trend, weights, trend_pad = _hybrid_parts(path, manifest, len(items))
    try:
        catalogue = Catalogue.from_frame(
            items, embeddings, neighbours, trend, weights, trend_pad, text_embeddings
        )
        search_encoder, search_vectors = load_search_space(
            path,
            manifest.files,
            len(catalogue),
            lambda graph: _open(graph, choice, intra_op_threads)[0],
            str(path / bf.TOKENIZER),
            manifest.text_max_length,
        )
        catalogue = dataclasses.replace(
            catalogue,
            lexical=load_lexical(path, manifest.files, [str(t) for t in catalogue.texts]),
            search_vectors=search_vectors,
            word_neighbours=load_word_neighbours(path, manifest.files),
            query_adapter=load_query_adapter(
                path, manifest.files, None if search_vectors is None else search_vectors.shape[1]
            ),
        )
        if with_ann:
            catalogue = dataclasses.replace(
                catalogue, ann=load_ann(path, manifest.raw, manifest.files, catalogue, ann or AnnSettings())
            )
    except (ValueError, OSError, RuntimeError) as e:  # faiss reports a bad file as RuntimeError
        raise BundleInvalid(f"{path}: {e}") from e
    catalogue.warm()  # per-snapshot orders computed here, in the loading thread, not on the loop
    bundle = LoadedBundle(
        manifest, choice.provider, choice.reason, text_encoder, user_encoder, ranker, catalogue,
        search_encoder,
    )
    _warm_up(bundle)
    log.info(
        "bundle %s loaded from %s in %.2f s: %d items, dim %d, retrieval %s",
        manifest.version,
        path,
        time.perf_counter() - started,
        len(catalogue),
        catalogue.dim,
        "ANN" if catalogue.ann_active else "exact",
    )
    return bundle


def _all_finite(table: np.ndarray) -> bool:
    return np.issubdtype(table.dtype, np.number) and bool(np.isfinite(table).all())


def _hybrid_parts(path: Path, manifest: Manifest, n_items: int):
    """(neighbour table, trend, weights, trend of an item without recent buyers) named by the
    manifest's ``hybrid`` block (None, None, None, 0.0 without one). The files are listed, hence
    sha256-verified, like every other bundle file."""
    from fulcrum.core import hybrid as hy

    block = manifest.raw.get(hy.MANIFEST_KEY)
    if not isinstance(block, dict):
        return None, None, None, 0.0
    try:
        weights = hy.weights_from_manifest(manifest.raw)
        neighbours = None
        if hy.NEIGHBOURS_FILE in manifest.files:
            neighbours = hy.NeighbourTable.load(path / hy.NEIGHBOURS_FILE)
        trend = None
        if hy.TREND_FILE in manifest.files:
            trend = np.load(path / hy.TREND_FILE, allow_pickle=False)
    except (OSError, ValueError, KeyError) as e:
        raise BundleInvalid(f"{path}: cannot read the hybrid retrieval files ({e})") from e
    if weights.neighbour > 0 and neighbours is None:
        raise BundleInvalid(f"{path}: hybrid.neighbour_weight > 0 but {hy.NEIGHBOURS_FILE} is not listed")
    if weights.trend > 0 and trend is None:
        raise BundleInvalid(f"{path}: hybrid.trend_weight > 0 but {hy.TREND_FILE} is not listed")
    if neighbours is not None and neighbours.n_sources != n_items:
        raise BundleInvalid(f"{path}: {hy.NEIGHBOURS_FILE} has {neighbours.n_sources} rows, items {n_items}")
    if trend is not None and trend.shape != (n_items,):
        raise BundleInvalid(f"{path}: {hy.TREND_FILE} has shape {trend.shape}, expected ({n_items},)")
    if trend is not None and not _all_finite(trend):
        raise BundleInvalid(f"{path}: {hy.TREND_FILE} holds NaN or infinite values")
    # older bundles have no trend_zero: their lowest trend is that of an item without recent buyers
    pad = float(trend.min()) if trend is not None and len(trend) else 0.0
    try:
        pad = float(block.get("trend_zero", pad))
    except (TypeError, ValueError) as e:
        raise BundleInvalid(f"{path}: hybrid.trend_zero must be a number ({e})") from e
    log.info("bundle %s: hybrid retrieval, weights %s", manifest.version, weights)
    return neighbours, trend, weights, pad


def _warm_up(bundle: LoadedBundle) -> None:
    """One call per graph: proves the graphs accept the documented inputs and dimensions agree."""
    from fulcrum.core.rank_features import N_RANK_FEATURES

    try:
        emb = bundle.text_encoder(["warm up"])[0]
        if emb.shape[0] != bundle.catalogue.dim:
            raise BundleInvalid(
                f"item encoder dim {emb.shape[0]} != item_embeddings dim {bundle.catalogue.dim}"
            )
        hist = History(bundle.catalogue.embeddings[:1], np.ones(1, np.int64), np.zeros(1, np.float32))
        user = bundle.user_encoder([hist])[0]
        if user.shape[0] != bundle.catalogue.dim:
            raise BundleInvalid(
                f"user encoder dim {user.shape[0]} != item_embeddings dim {bundle.catalogue.dim}"
            )
        purchase, _ = bundle.ranker([np.zeros((2, N_RANK_FEATURES), np.float32)])[0]
        if purchase.shape != (2,):
            raise BundleInvalid(f"ranker returned shape {purchase.shape} for 2 rows")
    except BundleInvalid:
        raise
    except Exception as e:
        raise BundleInvalid(f"{bundle.manifest.path}: warm-up inference failed ({e})") from e
