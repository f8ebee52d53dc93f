"""Certificates, tokens and a real TLS server for the security tests (generated per test)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from fulcrum.security.certs import Issued, make_ca, make_client_cert, make_server_cert
from fulcrum.v1 import recommender_pb2_grpc
from online.config import build_config
from online.security.tokens import hash_token, new_token
from online.server.app import create_server

ROLES = ("recommend", "ingest", "admin")


@dataclass
class Pki:
    """A CA, a server certificate for localhost, one client certificate and token per role, an
    unrelated CA with a client certificate of its own, all written under ``root``."""

    root: Path
    ca: Issued
    server: Issued
    clients: dict[str, Issued]
    other_ca: Issued
    stranger: Issued
    tokens: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.root / name

    def security(self, mutual: bool = False, **extra) -> dict:
        out = {
            "tls_cert_file": str(self.path("server.crt")),
            "tls_key_file": str(self.path("server.key")),
            "tokens_file": str(self.path("tokens.yaml")),
            **extra,
        }
        if mutual:
            out["tls_client_ca_file"] = str(self.path("ca.crt"))
            out["identities"] = {f"{r}-client": [r] for r in ROLES}
        return out

    def credentials(self, cert: str | None = None, trust: Issued | None = None) -> grpc.ChannelCredentials:
        """Channel credentials trusting ``trust`` (default: our CA), presenting client ``cert``
        (a role name, 'stranger' for the other CA's, None for none)."""
        pair = self.stranger if cert == "stranger" else self.clients.get(cert) if cert else None
        return grpc.ssl_channel_credentials(
            root_certificates=(trust or self.ca).cert_pem,
            private_key=pair.key_pem if pair else None,
            certificate_chain=pair.cert_pem if pair else None,
        )


def make_pki(root: Path) -> Pki:
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    other = make_ca("Somebody else's CA")
    pki = Pki(
        root,
        ca,
        make_server_cert(ca),
        {r: make_client_cert(ca, f"{r}-client") for r in ROLES},
        other,
        make_client_cert(other, "admin-client"),  # the right name from the wrong CA
    )
    (root / "ca.crt").write_bytes(ca.cert_pem)
    (root / "server.crt").write_bytes(pki.server.cert_pem)
    (root / "server.key").write_bytes(pki.server.key_pem)
    pki.tokens = {r: new_token() for r in ROLES}
    entries = [{"name": f"{r}-test", "sha256": hash_token(t), "roles": [r]} for r, t in pki.tokens.items()]
    (root / "tokens.yaml").write_text(yaml.safe_dump({"tokens": entries}))
    return pki


@contextlib.asynccontextmanager
async def tls_serving(bundle: Path, features, security: dict, sink=None, **config):
    """A real server on localhost port 0 with ``security``; yields (server, port)."""
    cfg = build_config(
        {"host": "127.0.0.1", "port": 0, "metrics_port": 0, "security": security, **config}, env={}
    )
    server, port = await create_server(cfg, bundle, features, sink)
    await server.start()
    try:
        yield server, port
    finally:
        await server.stop(0)


def secure_stub(port: int, creds: grpc.ChannelCredentials) -> tuple[grpc.aio.Channel, object]:
    channel = grpc.aio.secure_channel(f"localhost:{port}", creds)
    return channel, recommender_pb2_grpc.RecommenderStub(channel)


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()
