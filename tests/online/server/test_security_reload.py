"""ReloadModel by version name only: no path, no `..`, no refused candidate, no escaping symlink,
no rollback without the flag; the old bundle keeps serving after every refusal; cancelled and
concurrent reloads never load in parallel (one shielded load task)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import grpc
import pytest

from fulcrum.core.errors import NotFound
from fulcrum.v1 import recommender_pb2 as pb
from online.bundle.versions import is_rollback, resolve_version
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import copy_bundle, make_bundle, serving


def _dated(folder, version: str, created_at: str):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"], manifest["created_at"] = version, created_at
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """<root>/{v0 (older), v1 (serving), v2 (newer)}, LATEST -> v1, a refused candidate in
    <root>/.candidates/, a bundle outside the root and a symlink in the root pointing at it."""
    base = tmp_path_factory.mktemp("reload")
    src = make_bundle(base / "src", version="x")
    root = base / "bundles"
    root.mkdir()
    _dated(copy_bundle(src, root / "v0"), "v0", "2026-11-01T00:00:00+00:00")
    _dated(copy_bundle(src, root / "v1"), "v1", "2026-11-10T00:00:00+00:00")
    _dated(copy_bundle(src, root / "v2"), "v2", "2026-11-20T00:00:00+00:00")
    (root / ".candidates").mkdir()
    _dated(copy_bundle(src, root / ".candidates" / "refused"), "refused", "2026-11-30T00:00:00+00:00")
    _dated(copy_bundle(src, base / "outside"), "outside", "2026-11-30T00:00:00+00:00")
    (root / "escape").symlink_to(base / "outside")
    (root / "LATEST").symlink_to("v1")
    return root


def test_resolve_version_rules(root):
    assert resolve_version(root, "v2") == (root / "v2").resolve()
    assert resolve_version(root, "LATEST") == (root / "v1").resolve()  # a sibling symlink is fine
    messages = set()
    for name in ("nope", "..", "../outside", ".candidates", ".candidates/refused", "escape",
                 str(root / "v2"), "v2/", "", "a" * 200, "v2\x00"):
        with pytest.raises(NotFound) as e:
            resolve_version(root, name)
        messages.add(str(e.value).split(":", 1)[1])
    assert messages == {" no published bundle of that name under bundles_root"}  # one error for all


def test_is_rollback_by_created_at():
    assert is_rollback("2026-11-01T00:00:00Z", "2026-11-10T00:00:00+00:00")
    assert not is_rollback("2026-11-20T00:00:00+00:00", "2026-11-10T00:00:00Z")
    assert not is_rollback("same", "same")
    assert is_rollback("", "2026-11-10T00:00:00Z")  # unreadable date: fail closed


def test_refused_reloads_keep_the_old_bundle_serving(root):
    bad = [
        ("path", pb.ReloadModelRequest(bundle_path=str(root / "v2")), grpc.StatusCode.INVALID_ARGUMENT),
        ("dotdot", pb.ReloadModelRequest(version="../outside"), grpc.StatusCode.NOT_FOUND),
        ("candidate", pb.ReloadModelRequest(version=".candidates/refused"), grpc.StatusCode.NOT_FOUND),
        ("symlink out", pb.ReloadModelRequest(version="escape"), grpc.StatusCode.NOT_FOUND),
        ("missing", pb.ReloadModelRequest(version="v9"), grpc.StatusCode.NOT_FOUND),
        ("rollback", pb.ReloadModelRequest(version="v0"), grpc.StatusCode.FAILED_PRECONDITION),
    ]

    async def body():
        out = {}
        async with serving(root / "LATEST", InMemoryFeatures(), bundles_root=str(root)) as (stub, *_):
            for name, request, _ in bad:
                try:
                    await stub.ReloadModel(request, timeout=30)
                    out[name] = (grpc.StatusCode.OK, "")
                except grpc.aio.AioRpcError as e:
                    out[name] = (e.code(), e.details())
                info = await stub.GetModelInfo(pb.GetModelInfoRequest())
                served = await stub.Recommend(pb.RecommendRequest(user_id="u", k=3))
                out[name, "after"] = (info.bundle_version, served.bundle_version, len(served.items))
            rolled = await stub.ReloadModel(pb.ReloadModelRequest(version="v0", allow_rollback=True))
            newer = await stub.ReloadModel(pb.ReloadModelRequest(version="v2"))
            # an empty request reloads the start path, LATEST re-resolved (-> v1): older than v2,
            # so the rollback rule applies to it too
            try:
                await stub.ReloadModel(pb.ReloadModelRequest())
                again = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as e:
                again = e.code()
            back = await stub.ReloadModel(pb.ReloadModelRequest(allow_rollback=True))
        return out, rolled, newer, (again, back.bundle_version)

    out, rolled, newer, again = asyncio.run(body())
    for name, _, code in bad:
        assert out[name][0] == code, (name, out[name])
        assert out[name, "after"] == ("v1", "v1", 3), name
    assert out["dotdot"][1] == out["candidate"][1].replace(".candidates/refused", "../outside")
    assert "allow_rollback" in out["rollback"][1]
    assert (rolled.previous_version, rolled.bundle_version) == ("v1", "v0")
    assert (newer.previous_version, newer.bundle_version) == ("v0", "v2")
    assert again == (grpc.StatusCode.FAILED_PRECONDITION, "v1")


def test_cancelled_and_concurrent_reloads_run_one_load(root):
    release = threading.Event()
    running = {"now": 0, "max": 0, "started": 0}
    lock = threading.Lock()

    async def body():
        async with serving(root / "v1", InMemoryFeatures(), bundles_root=str(root)) as (stub, server, *_):
            real = server.holder._loader

            def slow(path):  # the real loader, held at its start until the test releases it
                with lock:
                    running["now"] += 1
                    running["started"] += 1
                    running["max"] = max(running["max"], running["now"])
                try:
                    release.wait(60)
                    return real(path)
                finally:
                    with lock:
                        running["now"] -= 1

            server.holder._loader = slow
            codes = []
            # one after the other: each call's deadline cancels it while the first load is still
            # held, so a lock released on cancellation would let the next call start a second load
            for _ in range(5):
                try:
                    await stub.ReloadModel(pb.ReloadModelRequest(version="v2"), timeout=0.3)
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as e:
                    codes.append(e.code())
            # and five at once
            burst = [stub.ReloadModel(pb.ReloadModelRequest(version="v2"), timeout=0.3) for _ in range(5)]
            for call in burst:
                try:
                    await call
                    codes.append(grpc.StatusCode.OK)
                except grpc.aio.AioRpcError as e:
                    codes.append(e.code())
            during = dict(running)
            release.set()
            deadline = time.monotonic() + 60
            while (server.holder.current.version != "v2" or running["now"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            swapped_to = server.holder.current.version
            # the lock is not leaked: a new reload runs (and is the second load ever started)
            after = await stub.ReloadModel(pb.ReloadModelRequest(version="v2"), timeout=60)
            served = await stub.Recommend(pb.RecommendRequest(user_id="u", k=3))
            return codes, during, swapped_to, after, served

    codes, during, swapped_to, after, served = asyncio.run(body())
    assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 10
    assert during["started"] == 1 and during["now"] == 1  # ten cancelled calls: one load
    assert swapped_to == "v2"  # the shielded load finished and swapped though its caller left
    assert running["max"] == 1 and running["started"] == 2
    assert after.bundle_version == "v2" and served.bundle_version == "v2"


def test_the_reload_client_uses_tls_and_the_admin_token(root, tmp_path):
    from fulcrum.client.channel import ClientSecurity
    from fulcrum.client.reload import reload_servers
    from tests.security_helpers import make_pki, tls_serving

    pki = make_pki(tmp_path / "pki")
    for role, token in pki.tokens.items():
        (tmp_path / f"{role}.token").write_text(token + "\n")

    def client(role: str | None, ca: bool = True) -> ClientSecurity:
        return ClientSecurity(
            ca_file=pki.path("ca.crt") if ca else None,
            token_file=tmp_path / f"{role}.token" if role else None,
            tls_name="localhost",
        )

    async def body():
        features = InMemoryFeatures()
        async with tls_serving(root / "v1", features, pki.security(), bundles_root=str(root)) as (_s, port):
            target = [f"127.0.0.1:{port}"]
            run = asyncio.to_thread
            return (
                await run(reload_servers, target, "v2", 60.0, False, client("admin")),
                await run(reload_servers, target, "v2", 60.0, False, client("recommend")),
                await run(reload_servers, target, "v2", 60.0, False, client("admin", ca=False)),
            )

    admin, recommend, plaintext = asyncio.run(body())
    assert [(r.ok, r.version, r.previous) for r in admin] == [(True, "v2", "v1")]
    assert not recommend[0].ok and recommend[0].error.startswith("PERMISSION_DENIED")
    assert not plaintext[0].ok and "never sent in plaintext" in plaintext[0].error
