"""Redis over TLS with an ACL user, against a real redis-server whose only listener is TLS
(``--port 0 --tls-port P``, the `default` user switched off, certificates generated here).
The URL is ``rediss://`` with no credentials in it; the user and password come from the files
named by FULCRUM_REDIS_USERNAME_FILE / FULCRUM_REDIS_PASSWORD_FILE. Checked: the Feast online
store (feature job writes, Recommend's reads, the sink's direct row reads), the idempotency store
and ForgetUser's erase all work through it; the connections really are TLS; a plaintext client,
a wrong password and a wrong CA are refused, and no error message carries the password."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.services import _ensure_redis_server, free_port, port_open, wait_until

pytestmark = [pytest.mark.redis]


@dataclass
class TlsRedis:
    port: int
    root: Path
    password: str

    def url(self, ca: Path | None = None) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={ca or self.root / 'ca.pem'}"

    def env(self, password_file: Path | None = None) -> dict[str, str]:
        return {"FULCRUM_REDIS_USERNAME_FILE": str(self.root / "redis.user"),
                "FULCRUM_REDIS_PASSWORD_FILE": str(password_file or self.root / "redis.password")}


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    from fulcrum.security.certs import make_ca, make_server_cert

    server = _ensure_redis_server()
    root = tmp_path_factory.mktemp("redis-tls")
    ca = make_ca("Fulcrum test Redis CA", days=2)
    cert = make_server_cert(ca, ("127.0.0.1", "localhost"), days=2)
    (root / "ca.pem").write_bytes(ca.cert_pem)
    (root / "server.pem").write_bytes(cert.cert_pem)
    (root / "server.key").write_bytes(cert.key_pem)
    password = secrets.token_urlsafe(24)
    (root / "redis.user").write_text("fulcrum-app\n")
    (root / "redis.password").write_text(password + "\n")
    port = free_port()
    (root / "redis.conf").write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {root}\n"
        f"tls-cert-file {root / 'server.pem'}\ntls-key-file {root / 'server.key'}\n"
        f"tls-ca-cert-file {root / 'ca.pem'}\ntls-auth-clients no\n"
        "user default off\n"
        f"user fulcrum-app on >{password} ~* &* +@all\n"
    )
    log = open(root / "redis.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([server, str(root / "redis.conf")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 30, what="TLS redis")
        if proc.poll() is not None:
            pytest.fail(f"redis-server exited: {(root / 'redis.log').read_text()[-2000:]}", pytrace=False)
        yield TlsRedis(port, root, password)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_feast_dedupe_and_forget_work_over_tls_with_an_acl_user(tls_redis, monkeypatch, tmp_path):
    import redis

    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from online.features.sink import FeastEventSink
    from online.ingest.dedupe import RedisDedupe
    from online.privacy.forget import Forgetter
    from tests.feature_repo_copy import copy_repo, synthetic_events
    from tests.online.privacy.test_privacy_forget_ingest import _ev

    for name, value in tls_redis.env().items():
        monkeypatch.setenv(name, value)
    url = tls_redis.url()
    assert "@" not in url  # no credentials in the URL: they come from the files
    repo = copy_repo(tmp_path)
    events = synthetic_events(n=80)
    build_features(events, repo, store="redis", redis_url=url)
    client = OnlineFeatureClient.open(repo, "redis", url, default_timeout_s=5.0)
    user = str(events["user_id"].iloc[0])
    assert not client.get_user_profile(user).miss  # written by the feature job, read back

    # the sink's direct row reads and writes (Feast's own redis-py client) go over TLS too
    sink = FeastEventSink(client.store)
    sink.apply([_ev("tls-user", 1), _ev("tls-user", 2)])
    assert client.get_user_profile("tls-user").profile.purchase_count == 2
    feast_client = client.store._get_provider().online_store._get_client(client.store.config.online_store)
    kwargs = feast_client.connection_pool.connection_kwargs
    assert feast_client.connection_pool.connection_class is redis.SSLConnection
    assert kwargs["username"] == "fulcrum-app"

    dedupe = RedisDedupe.from_url(url)
    dedupe.mark(["e-tls-1"])
    assert dedupe.seen(["e-tls-1", "e-tls-2"]) == [True, False]
    assert dedupe.client.connection_pool.connection_class is redis.SSLConnection

    report = Forgetter(feature_store=client.store, feature_repo=repo).forget("tls-user")
    assert report.online_entries == 1 and client.get_user_profile("tls-user").miss


def test_plaintext_wrong_password_and_wrong_ca_are_refused(tls_redis, tmp_path):
    import redis

    from fulcrum.core.feature_store import redis_connection_string
    from fulcrum.core.redis_credentials import with_credentials

    # plaintext to the TLS port: the server never answers a plain RESP command
    plain = redis.Redis(host="127.0.0.1", port=tls_redis.port, socket_timeout=3, socket_connect_timeout=3)
    with pytest.raises(redis.RedisError):
        plain.ping()
    # TLS without credentials: the default user is off
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(tls_redis.url(), socket_timeout=5).set("k", "v")
    # a wrong password, read from a file: refused, and neither password is in the error
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong_url = with_credentials(tls_redis.url(), tls_redis.env(wrong))
    with pytest.raises(redis.AuthenticationError) as err:
        redis.Redis.from_url(wrong_url, socket_timeout=5).ping()
    assert "not-the-password" not in str(err.value) and tls_redis.password not in str(err.value)
    # a CA that did not sign the server's certificate: the TLS handshake fails
    from fulcrum.security.certs import make_ca

    other = tmp_path / "other-ca.pem"
    other.write_bytes(make_ca("another CA").cert_pem)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(with_credentials(tls_redis.url(other), tls_redis.env()), socket_timeout=5).ping()
    # a mistyped URL is reported without the password
    with pytest.raises(ValueError) as bad:
        redis_connection_string(f"rediss://fulcrum-app:{tls_redis.password}@/0")
    assert tls_redis.password not in str(bad.value)
