"""The acceptance matrix: method x identity -> status code, on a real TLS server on port 0.

Two servers, certificates generated in the test: TLS with bearer tokens (identities: none,
recommend, ingest, admin, a wrong token, a client trusting another CA) and mutual TLS with
certificate identities (the three roles, no client certificate, a certificate of another CA).
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fulcrum.core.errors import ConfigError
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.server.feature_source import InMemoryFeatures
from tests.security_helpers import bearer, make_pki, secure_stub, tls_serving
from tests.serving_helpers import make_bundle

OK = grpc.StatusCode.OK
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
DOWN = grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails: no call reaches the server

METHODS = ("Recommend", "Search", "GetModelInfo", "IngestEvents", "ReloadModel", "ForgetUser")
ROLE_OF = {"Recommend": "recommend", "Search": "recommend", "GetModelInfo": "recommend",
           "IngestEvents": "ingest", "ReloadModel": "admin", "ForgetUser": "admin"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("sec-bundle") / "b1", version="test-1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def _call_sync(port: int, creds, method: str, metadata) -> grpc.StatusCode:
    # the blocking client: grpc.aio's client-streaming call raises CancelledError instead of
    # UNAVAILABLE when the TLS handshake fails (grpcio 1.85), the blocking one reports the status
    with grpc.secure_channel(f"localhost:{port}", creds) as channel:
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        try:
            if method == "Recommend":
                stub.Recommend(pb.RecommendRequest(user_id="u1", k=3), metadata=metadata, timeout=10)
            elif method == "Search":
                stub.Search(pb.SearchRequest(query="red heart", k=3), metadata=metadata, timeout=10)
            elif method == "GetModelInfo":
                stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=metadata, timeout=10)
            elif method == "IngestEvents":
                stub.IngestEvents(iter([]), metadata=metadata, timeout=10)
            elif method == "ReloadModel":
                stub.ReloadModel(pb.ReloadModelRequest(), metadata=metadata, timeout=30)
            elif method == "ForgetUser":
                stub.ForgetUser(pb.ForgetUserRequest(user_id="nobody"), metadata=metadata, timeout=30)
            return OK
        except grpc.RpcError as e:
            return e.code()


async def _call(port: int, creds, method: str, metadata) -> grpc.StatusCode:
    return await asyncio.to_thread(_call_sync, port, creds, method, metadata)


def _expected(identity: str, method: str) -> grpc.StatusCode:
    if identity in ("wrong CA", "stranger cert", "no cert"):
        return DOWN
    if identity in ("none", "bad token"):
        return UNAUTH
    return OK if ROLE_OF[method] == identity else DENIED


def test_tls_with_tokens_matrix(bundle, pki, caplog):
    caplog.set_level("DEBUG")
    identities = ("none", "recommend", "ingest", "admin", "bad token", "wrong CA")

    async def body():
        got = {}
        async with tls_serving(bundle, InMemoryFeatures(), pki.security()) as (_server, port):
            for identity in identities:
                trust = pki.other_ca if identity == "wrong CA" else None
                creds = pki.credentials(trust=trust)
                token = pki.tokens.get(identity, "x" * 43 if identity == "bad token" else None)
                for method in METHODS:
                    got[identity, method] = await _call(port, creds, method, bearer(token))
            channel, _ = secure_stub(port, pki.credentials())
            async with channel:  # health stays open
                health = health_pb2_grpc.HealthStub(channel)
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                got["none", "health"] = reply.status
        return got

    got = asyncio.run(body())
    for identity in identities:
        for method in METHODS:
            assert got[identity, method] == _expected(identity, method), (identity, method)
    assert got["none", "health"] == health_pb2.HealthCheckResponse.SERVING
    logged = caplog.text
    assert "refused for peer" in logged  # refusals are logged ...
    assert not any(t in logged for t in pki.tokens.values()) and "x" * 43 not in logged  # ... never tokens


def test_mutual_tls_identity_matrix(bundle, pki):
    identities = ("recommend", "ingest", "admin", "no cert", "stranger cert")

    async def body():
        got = {}
        async with tls_serving(bundle, InMemoryFeatures(), pki.security(mutual=True)) as (_server, port):
            for identity in identities:
                cert = {"no cert": None, "stranger cert": "stranger"}.get(identity, identity)
                creds = pki.credentials(cert=cert)
                for method in METHODS:
                    got[identity, method] = await _call(port, creds, method, ())
            # a certificate for one role plus a token for another: both roles
            creds = pki.credentials(cert="recommend")
            ingest = bearer(pki.tokens["ingest"])
            got["both"] = (
                await _call(port, creds, "Recommend", ingest),
                await _call(port, creds, "IngestEvents", ingest),
                await _call(port, creds, "ReloadModel", ingest),
                # a wrong token is never ignored in favour of the certificate
                await _call(port, creds, "Recommend", bearer("not-a-token")),
            )
        return got

    got = asyncio.run(body())
    for identity in identities:
        for method in METHODS:
            assert got[identity, method] == _expected(identity, method), (identity, method)
    assert got["both"] == (OK, OK, DENIED, UNAUTH)


def test_reflection_is_configurable_and_needs_a_credential(bundle, pki):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async def list_services(channel, metadata):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        try:
            replies = stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10)
            return sorted([s.name async for r in replies for s in r.list_services_response.service])
        except grpc.aio.AioRpcError as e:
            return e.code()

    async def body():
        async with tls_serving(bundle, InMemoryFeatures(), pki.security(reflection=True)) as (_s, port):
            channel, _ = secure_stub(port, pki.credentials())
            async with channel:
                return (
                    await list_services(channel, ()),
                    await list_services(channel, bearer(pki.tokens["ingest"])),
                )

    anonymous, ingest = asyncio.run(body())
    assert anonymous == UNAUTH
    assert "fulcrum.v1.Recommender" in ingest


@pytest.mark.parametrize(
    ("security", "field"),
    [
        ({"tokens_file": "t.yaml"}, "no TLS configured"),
        ({"allow_plaintext": True}, "no credential configured"),
        ({"tls_cert_file": "x"}, "tls_key_file"),
        ({"allow_plaintext": True, "tls_client_ca_file": "ca.crt"}, "tls_client_ca_file"),
        ({"allow_plaintext": True, "allow_unauthenticated": True, "tokens_file": "t.yaml"}, "contradicts"),
    ],
)
def test_the_server_refuses_to_start_open_by_omission(bundle, security, field):
    async def body():
        async with tls_serving(bundle, InMemoryFeatures(), security):
            pass

    with pytest.raises(ConfigError, match=field):
        asyncio.run(body())


def test_no_security_block_serves_loopback_only_in_plaintext():
    # the loopback development mode: nothing configured + a loopback host -> plaintext, open to
    # this machine; the same empty block on a network address is refused at start-up
    from online.security.config import SecurityConfig
    from online.security.transport import check_security, effective_security

    loopback = effective_security(SecurityConfig(), "127.0.0.1")
    assert loopback.allow_plaintext and loopback.allow_unauthenticated and loopback.reflection_on
    check_security(loopback, "127.0.0.1")
    network = effective_security(SecurityConfig(), "[::]")
    assert network == SecurityConfig()
    with pytest.raises(ConfigError, match="no TLS configured"):
        check_security(network, "[::]")
    # anything configured is taken as it is: a token file alone never turns auth off
    tokens = effective_security(SecurityConfig(tokens_file="t.yaml"), "127.0.0.1")
    assert not tokens.allow_plaintext and not tokens.allow_unauthenticated


def test_a_key_that_does_not_match_the_certificate_is_refused(bundle, pki, tmp_path):
    from fulcrum.security.certs import make_server_cert

    (tmp_path / "other.key").write_bytes(make_server_cert(pki.ca).key_pem)
    security = pki.security(tls_key_file=str(tmp_path / "other.key"))

    async def body():
        async with tls_serving(bundle, InMemoryFeatures(), security):
            pass

    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        asyncio.run(body())


def test_rotated_certificate_files_are_used_without_a_restart(bundle, tmp_path):
    from fulcrum.security.certs import make_ca, make_server_cert

    pki = make_pki(tmp_path / "pki")
    new_ca = make_ca("Rotated CA")
    rotated = make_server_cert(new_ca)

    async def health_via(port, trust) -> int:
        channel = grpc.aio.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(trust.cert_pem))
        async with channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            return reply.status

    async def body():
        async with tls_serving(bundle, InMemoryFeatures(), pki.security()) as (_server, port):
            before = await health_via(port, pki.ca)
            for name, data in (("server.key", rotated.key_pem), ("server.crt", rotated.cert_pem)):
                tmp = pki.path(name + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(pki.path(name))  # atomic, as a Secret volume update is
            after = await health_via(port, new_ca)
            try:
                await health_via(port, pki.ca)
                old_trusted = True
            except grpc.aio.AioRpcError:
                old_trusted = False
            return before, after, old_trusted

    before, after, old_trusted = asyncio.run(body())
    serving = health_pb2.HealthCheckResponse.SERVING
    assert before == serving and after == serving and not old_trusted


def test_the_health_only_listener_is_plaintext_and_serves_nothing_else(bundle, pki):
    async def body():
        security = pki.security(health_port=0)
        async with tls_serving(bundle, InMemoryFeatures(), security) as (server, _port):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                try:
                    await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
                    other = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as e:
                    other = e.code()
            return reply.status, other

    status, other = asyncio.run(body())
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert other == grpc.StatusCode.UNIMPLEMENTED


def test_the_admin_listener_serves_admin_rpcs_only_and_the_main_port_refuses_them(bundle, pki):
    async def body():
        security = pki.security(admin_port=0)
        async with tls_serving(bundle, InMemoryFeatures(), security) as (server, port):
            creds = pki.credentials()
            admin = bearer(pki.tokens["admin"])
            got = {
                ("main", "ReloadModel"): await _call(port, creds, "ReloadModel", admin),
                ("main", "ForgetUser"): await _call(port, creds, "ForgetUser", admin),
                ("main", "Recommend"): await _call(port, creds, "Recommend", bearer(pki.tokens["recommend"])),
                ("admin", "ReloadModel"): await _call(server.admin_port, creds, "ReloadModel", admin),
                ("admin", "ForgetUser"): await _call(server.admin_port, creds, "ForgetUser", admin),
                ("admin", "Recommend"): await _call(
                    server.admin_port, creds, "Recommend", bearer(pki.tokens["recommend"])
                ),
                ("admin", "no token"): await _call(server.admin_port, creds, "ReloadModel", ()),
            }
        return got

    got = asyncio.run(body())
    assert got == {
        ("main", "ReloadModel"): DENIED, ("main", "ForgetUser"): DENIED, ("main", "Recommend"): OK,
        ("admin", "ReloadModel"): OK, ("admin", "ForgetUser"): OK, ("admin", "Recommend"): DENIED,
        ("admin", "no token"): UNAUTH,
    }


def test_a_token_is_revoked_by_updating_the_tokens_file_without_a_restart(bundle, tmp_path, monkeypatch):
    import yaml

    from online.security import authenticator

    monkeypatch.setattr(authenticator, "TOKENS_RECHECK_S", 0.0)  # look at the file on every call
    pki = make_pki(tmp_path / "pki")
    tokens_file = pki.path("tokens.yaml")
    entries = yaml.safe_load(tokens_file.read_text())["tokens"]

    def rewrite(text: str) -> None:
        tmp = tokens_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(tokens_file)  # atomic, as a Secret volume update is

    async def body():
        async with tls_serving(bundle, InMemoryFeatures(), pki.security()) as (_server, port):
            creds, md = pki.credentials(), bearer(pki.tokens["recommend"])
            before = await _call(port, creds, "Recommend", md)
            rewrite("tokens: [not, valid")  # a broken update: the previous tokens stay
            broken = await _call(port, creds, "Recommend", md)
            rewrite(yaml.safe_dump({"tokens": [e for e in entries if e["roles"] != ["recommend"]]}))
            revoked = await _call(port, creds, "Recommend", md)
            others = await _call(port, creds, "IngestEvents", bearer(pki.tokens["ingest"]))
            return before, broken, revoked, others

    assert asyncio.run(body()) == (OK, OK, UNAUTH, OK)
