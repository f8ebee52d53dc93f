"""Bundle verification and loading, the micro-batcher, the live catalogue."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fulcrum.core import bundle_format as bf
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.errors import BundleInvalid, NotFound
from fulcrum.core.manifest import read_manifest, verify_files
from online.inference.batcher import MicroBatcher
from tests.fixtures.minimal_bundle import build_minimal_bundle
from tests.fixtures.services import async_wait_until


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return build_minimal_bundle(tmp_path_factory.mktemp("bundle"))


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_loads_and_reports_cpu(bundle_dir):
    b = load_bundle(bundle_dir, "auto")
    assert b.provider == "CPUExecutionProvider" and len(b.catalogue) == 40
    assert b.manifest.text_max_length == 16 and b.user_encoder.history_length == 8


def test_tampered_file_is_refused(bundle_dir, tmp_path):
    d = _copy(bundle_dir, tmp_path / "b")
    emb = np.load(d / bf.ITEM_EMBEDDINGS)
    emb[0, 0] += 1.0
    np.save(d / bf.ITEM_EMBEDDINGS, emb)
    with pytest.raises(BundleInvalid, match="item_embeddings.npy sha256"):
        load_bundle(d)


def test_missing_file_and_unlisted_required_file_are_refused(bundle_dir, tmp_path):
    d = _copy(bundle_dir, tmp_path / "b")
    (d / bf.RANKER).unlink()
    with pytest.raises(BundleInvalid, match="ranker.onnx is missing"):
        verify_files(read_manifest(d))
    m = json.loads((d / bf.MANIFEST).read_text())
    del m["files"][bf.RANKER]
    (d / bf.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleInvalid, match="required files not listed: ranker.onnx"):
        read_manifest(d)


def test_path_escape_and_bad_format_are_refused(bundle_dir, tmp_path):
    d = _copy(bundle_dir, tmp_path / "b")
    m = json.loads((d / bf.MANIFEST).read_text())
    m["files"]["../outside"] = "0" * 64
    (d / bf.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleInvalid, match="escapes"):
        verify_files(read_manifest(d))
    m["format"] = "other/9"
    (d / bf.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleInvalid, match="format"):
        read_manifest(d)
    with pytest.raises(NotFound):
        read_manifest(tmp_path / "nowhere")


def test_embed_then_upsert_makes_an_item_retrievable(bundle_dir):
    from fulcrum.core.bundle.live_catalogue import LiveCatalogue

    b = load_bundle(bundle_dir)
    live = LiveCatalogue(b.catalogue)
    vec = b.text_encoder(["pink tea n7 brand new"])[0]
    cat = live.upsert(["new-1"], ["pink tea n7 brand new"], vec[None, :], [2.5], 1.0e9)
    row = cat.index["new-1"]
    assert len(cat) == 41 and cat.upserted[row] and cat.price[row] == 2.5 and cat.first_seen[row] == 1.0e9
    assert int(np.argmax(cat.embeddings @ vec)) == row
    assert len(b.catalogue) == 40  # the old snapshot is untouched


# ---- micro-batcher -----------------------------------------------------------------------------------


def test_batcher_groups_concurrent_calls_and_routes_results():
    sizes: list[int] = []

    def double(batch):
        sizes.append(len(batch))
        return [x * 2 for x in batch]

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", double, ex, max_batch=4)
            # all 10 submits queue before the drain task first runs: batches of 4, 4, 2
            return await asyncio.gather(*(b.submit(i) for i in range(10)))

    assert asyncio.run(main()) == [i * 2 for i in range(10)]
    assert sizes == [4, 4, 2]


def test_batcher_forms_the_next_batch_while_one_runs():
    sizes: list[int] = []
    release = threading.Event()

    def slow(batch):
        sizes.append(len(batch))
        if len(sizes) == 1:
            release.wait(10)
        return batch

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", slow, ex, max_batch=64)
            first = asyncio.create_task(b.submit(0))
            # the first batch (size 1) is running in the executor
            await async_wait_until(lambda: sizes, 30, interval=0.001, what="the first batch")
            rest = [asyncio.create_task(b.submit(i)) for i in range(1, 6)]
            await asyncio.sleep(0)
            release.set()
            return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == list(range(6))
    assert sizes == [1, 5]


def test_batcher_error_reaches_every_caller_of_the_batch():
    def boom(batch):
        raise RuntimeError("model broke")

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", boom, ex)
            return await asyncio.gather(b.submit(1), b.submit(2), return_exceptions=True)

    assert [str(e) for e in asyncio.run(main())] == ["model broke", "model broke"]


def test_batcher_max_wait_collects_late_arrivals():
    sizes: list[int] = []

    def ident(batch):
        sizes.append(len(batch))
        return batch

    async def main():
        with ThreadPoolExecutor(1) as ex:
            b = MicroBatcher("t", ident, ex, max_batch=3, max_wait_s=5.0)
            first = asyncio.create_task(b.submit(0))
            await asyncio.sleep(0.01)  # the drain task now waits for company (up to 5 s)
            more = [asyncio.create_task(b.submit(i)) for i in (1, 2)]  # batch full -> runs at once
            return await asyncio.gather(first, *more)

    assert asyncio.run(main()) == [0, 1, 2]
    assert sizes == [3]


def test_live_counts_update_exploration_statistics(bundle_dir):
    from fulcrum.core.bundle.live_catalogue import LiveCatalogue

    b = load_bundle(bundle_dir)
    live = LiveCatalogue(b.catalogue)
    vec = b.text_encoder(["brand new"])[0]
    live.upsert(["new-1"], ["brand new"], vec[None, :], [1.0], 1.0e9)
    row = live.current.index["new-1"]
    # sku-000 starts with 120 purchases / 400 impressions in the test bundle
    n = live.count(["new-1", "sku-000", "unknown"], ["new-1"] * 25 + ["sku-000"])
    cat = live.current
    assert n == 2 + 26  # the unknown id is ignored
    assert (cat.purchases[row], cat.impressions[row]) == (1.0, 25.0)
    assert (cat.purchases[0], cat.impressions[0]) == (121.0, 401.0)
    # an upsert afterwards keeps the counts (arrays are copied into the new snapshot)
    live.upsert(["new-2"], ["other"], vec[None, :], [1.0], 1.0e9)
    assert live.current.impressions[row] == 25.0
