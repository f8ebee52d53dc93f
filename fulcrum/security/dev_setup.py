"""`fulcrum security dev-setup --out DIR`: everything a developer needs to run the secure server.

Writes (private keys and tokens mode 0600)::

    DIR/ca.crt, DIR/ca.key                  a development CA (ECDSA P-256, 1 year)
    DIR/server.crt, DIR/server.key          the server, for localhost / 127.0.0.1 / ::1 (90 days)
    DIR/clients/<role>.crt, <role>.key      one client certificate per role, CN "<role>-client"
    DIR/tokens/<role>.token                 one bearer token per role (the client's copy)
    DIR/tokens.yaml                         their sha256 digests and roles (the server's copy)
    DIR/serve.yaml                          a serving config using all of it (mutual TLS off;
                                            the commented lines switch it on)

Nothing here is for production: a real deployment takes certificates from its PKI and tokens
from its secret store (docs/security.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from online.security.roles import ROLES

SERVE_YAML = """\
# `fulcrum serve --bundle BUNDLE --config {out}/serve.yaml`, written by `fulcrum security dev-setup`.
host: 127.0.0.1
port: 50051
metrics_port: 0
security:
  tls_cert_file: {out}/server.crt
  tls_key_file: {out}/server.key
  tokens_file: {out}/tokens.yaml
  # mutual TLS: uncomment both; clients then also present {out}/clients/<role>.crt/.key
  # tls_client_ca_file: {out}/ca.crt
  # identities: {{recommend-client: [recommend], ingest-client: [ingest], admin-client: [admin]}}
  reflection: true
"""


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
    else:
        path.write_bytes(data)


DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def dev_setup(out: Path, force: bool = False, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> dict:
    """Write the development set into ``out``; refuses to overwrite an existing set unless
    ``force``. Returns {role: token} (for tests)."""
    import yaml

    from fulcrum.security.certs import make_ca, make_client_cert, make_server_cert
    from online.security.tokens import hash_token, new_token

    out = Path(out).resolve()
    if (out / "ca.key").exists() and not force:
        raise FileExistsError(f"{out}: a development set exists already (--force replaces it)")
    ca = make_ca()
    server = make_server_cert(ca, hosts)
    _write(out / "ca.crt", ca.cert_pem)
    _write(out / "ca.key", ca.key_pem, private=True)
    _write(out / "server.crt", server.cert_pem)
    _write(out / "server.key", server.key_pem, private=True)
    tokens = {}
    entries = []
    for role in ROLES:
        client = make_client_cert(ca, f"{role}-client")
        _write(out / "clients" / f"{role}.crt", client.cert_pem)
        _write(out / "clients" / f"{role}.key", client.key_pem, private=True)
        tokens[role] = new_token()
        _write(out / "tokens" / f"{role}.token", (tokens[role] + "\n").encode(), private=True)
        entries.append({"name": f"dev-{role}", "sha256": hash_token(tokens[role]), "roles": [role]})
    _write(out / "tokens.yaml", yaml.safe_dump({"tokens": entries}, sort_keys=False).encode(), private=True)
    _write(out / "serve.yaml", SERVE_YAML.format(out=out).encode())
    return tokens
