"""Bundle authenticity: an ed25519-signed manifest, verified at load; non-finite embeddings and a
text template other than the plain placeholder are refused."""

from __future__ import annotations

import asyncio
import json

import grpc
import numpy as np
import pytest

from fulcrum.core import bundle_format as bf
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.bundle_signature import SIGNATURE, load_public_key, new_keypair, sign_bundle
from fulcrum.core.errors import BundleInvalid
from fulcrum.v1 import recommender_pb2 as pb
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import copy_bundle, make_bundle, serving


@pytest.fixture(scope="module")
def keys():
    private, public = new_keypair()
    return private, public, load_public_key(public)


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys):
    bundle = make_bundle(tmp_path_factory.mktemp("signed") / "s1", version="s1")
    sign_bundle(bundle, keys[0])
    return bundle


def _manifest(folder):
    return json.loads((folder / bf.MANIFEST).read_text())


def _write_manifest(folder, manifest):
    (folder / bf.MANIFEST).write_text(json.dumps(manifest))


def test_a_signed_bundle_loads_and_an_unsigned_one_is_refused(signed, keys, tmp_path):
    assert load_bundle(signed, "cpu", public_key=keys[2]).manifest.version == "s1"
    unsigned = copy_bundle(signed, tmp_path / "u")
    (unsigned / SIGNATURE).unlink()
    with pytest.raises(BundleInvalid, match="not signed"):
        load_bundle(unsigned, "cpu", public_key=keys[2])
    other_private, _ = new_keypair()
    foreign = copy_bundle(signed, tmp_path / "f")
    sign_bundle(foreign, other_private)
    with pytest.raises(BundleInvalid, match="does not match"):
        load_bundle(foreign, "cpu", public_key=keys[2])


def test_a_tampered_manifest_is_refused(signed, keys, tmp_path):
    bundle = copy_bundle(signed, tmp_path / "t")
    manifest = _manifest(bundle)
    manifest["metrics"]["ndcg@10"] = 0.99  # any change, even one no hash covers
    _write_manifest(bundle, manifest)
    with pytest.raises(BundleInvalid, match="does not match the manifest"):
        load_bundle(bundle, "cpu", public_key=keys[2])


def test_swapped_embeddings_with_a_matching_sha256_are_refused(signed, keys, tmp_path):
    bundle = copy_bundle(signed, tmp_path / "w")
    emb = np.load(bundle / bf.ITEM_EMBEDDINGS)
    np.save(bundle / bf.ITEM_EMBEDDINGS, emb[::-1].copy())  # every item gets another's vector
    manifest = _manifest(bundle)
    manifest["files"][bf.ITEM_EMBEDDINGS] = bf.sha256_file(bundle / bf.ITEM_EMBEDDINGS)
    _write_manifest(bundle, manifest)
    # without a key the sha256 check alone passes the swap: that is what the signature is for
    assert load_bundle(bundle, "cpu").manifest.version == "s1"
    with pytest.raises(BundleInvalid, match="does not match the manifest"):
        load_bundle(bundle, "cpu", public_key=keys[2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings_are_refused(signed, keys, tmp_path, bad):
    bundle = copy_bundle(signed, tmp_path / "n")
    emb = np.load(bundle / bf.ITEM_EMBEDDINGS)
    emb[3, 1] = bad
    np.save(bundle / bf.ITEM_EMBEDDINGS, emb)
    manifest = _manifest(bundle)
    manifest["files"][bf.ITEM_EMBEDDINGS] = bf.sha256_file(bundle / bf.ITEM_EMBEDDINGS)
    _write_manifest(bundle, manifest)
    sign_bundle(bundle, keys[0])  # even signed by the right key
    with pytest.raises(BundleInvalid, match="NaN or infinite"):
        load_bundle(bundle, "cpu", public_key=keys[2])


@pytest.mark.parametrize("template", ["{text.__class__}", "{text!r}", "item: {text}", "{text:>999999}"])
def test_a_text_template_other_than_the_plain_placeholder_is_refused(signed, keys, tmp_path, template):
    bundle = copy_bundle(signed, tmp_path / "x")
    manifest = _manifest(bundle)
    manifest["text_template"] = template
    _write_manifest(bundle, manifest)
    sign_bundle(bundle, keys[0])
    with pytest.raises(BundleInvalid, match="text_template"):
        load_bundle(bundle, "cpu", public_key=keys[2])


def test_the_server_refuses_a_tampered_version_and_keeps_serving(signed, keys, tmp_path):
    root = tmp_path / "bundles"
    root.mkdir()
    v1 = copy_bundle(signed, root / "v1")
    bad = copy_bundle(signed, root / "bad")
    manifest = _manifest(bad)
    manifest["version"] = "bad"
    _write_manifest(bad, manifest)
    (tmp_path / "pub.pem").write_bytes(keys[1])
    security = {"allow_plaintext": True, "allow_unauthenticated": True,
                "bundle_public_key_file": str(tmp_path / "pub.pem")}

    async def body():
        async with serving(v1, InMemoryFeatures(), security=security, bundles_root=str(root)) as (stub, *_):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ReloadModel(pb.ReloadModelRequest(version="bad"))
            info = await stub.GetModelInfo(pb.GetModelInfoRequest())
            return refused.value, info

    refused, info = asyncio.run(body())
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION and "manifest.sig" in refused.details()
    assert info.bundle_version == "s1"


def test_publishing_signs_with_the_configured_key(keys, tmp_path, monkeypatch):
    from offline.pipeline.promotion import publish

    key_file = tmp_path / "signing.key"
    key_file.write_bytes(keys[0])
    monkeypatch.setenv("FULCRUM_BUNDLE_SIGNING_KEY_FILE", str(key_file))
    candidate = make_bundle(tmp_path / "staged" / "c1", version="c1")
    assert not (candidate / SIGNATURE).exists()  # staged candidates are not signed
    root = tmp_path / "root"
    root.mkdir()
    published = publish(candidate, root, move=False)
    assert load_bundle(published, "cpu", public_key=keys[2]).manifest.version == "c1"


def test_serve_time_parity_with_the_exports_golden_probes(tiny_bundle, tmp_path):
    manifest = _manifest(tiny_bundle)
    assert len(manifest["probes"]["texts"]) == 4  # written by the exporter
    assert load_bundle(tiny_bundle, "cpu").manifest.version == manifest["version"]
    drifted = copy_bundle(tiny_bundle, tmp_path / "drift")
    manifest["probes"]["item_encoder"][2] = [-v for v in manifest["probes"]["item_encoder"][2]]
    _write_manifest(drifted, manifest)
    with pytest.raises(BundleInvalid, match="serve-time parity failed: probe 2"):
        load_bundle(drifted, "cpu")


def test_check_probes_by_hand():
    from fulcrum.core.bundle.probes import check_probes

    # encode returns the manifest's vectors scaled (cosine 1) or rotated by 90 degrees (cosine 0)
    raw = {"probes": {"texts": ["a", "b"], "item_encoder": [[1.0, 0.0], [0.0, 1.0]]}}
    scaled = [np.array([2.0, 0.0]), np.array([0.0, 3.0])]
    assert check_probes(raw, lambda t: scaled, False, "x") == pytest.approx(1.0)
    with pytest.raises(BundleInvalid, match="cosine 0.0000"):
        check_probes(raw, lambda t: [np.array([0.0, 1.0]), np.array([0.0, 1.0])], False, "x")
    # cos(10 degrees) = 0.985: refused for fp32 (0.999), accepted for the int8 encoder (0.98)
    tilted = [np.array([np.cos(0.1745), np.sin(0.1745)]), np.array([0.0, 1.0])]
    with pytest.raises(BundleInvalid):
        check_probes(raw, lambda t: tilted, False, "x")
    assert check_probes(raw, lambda t: tilted, True, "x") == pytest.approx(0.985, abs=1e-3)
    assert check_probes({}, lambda t: [], False, "x") is None  # older bundles: skipped, logged
