"""A blocking gRPC channel to a Fulcrum server for jobs and tools, with the job's credentials.

Environment variables (a job's Secret mounts the files):

- ``FULCRUM_CLIENT_CA_FILE``: PEM CA that signed the server's certificate; set = TLS
- ``FULCRUM_CLIENT_CERT_FILE``, ``FULCRUM_CLIENT_KEY_FILE``: a client certificate (mutual TLS)
- ``FULCRUM_CLIENT_TOKEN_FILE``: a file holding the bearer token (sent as ``authorization``)
- ``FULCRUM_CLIENT_TLS_NAME``: the name to check the server certificate against when dialling
  an IP address (e.g. each pod behind a headless Service; default: the dialled host)

None set: plaintext without credentials (a loopback demo server). The token is read from its
file at each call and never printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fulcrum.core import environment

ENV_VARS = (
    "FULCRUM_CLIENT_CA_FILE",
    "FULCRUM_CLIENT_CERT_FILE",
    "FULCRUM_CLIENT_KEY_FILE",
    "FULCRUM_CLIENT_TOKEN_FILE",
    "FULCRUM_CLIENT_TLS_NAME",
)


@dataclass(frozen=True)
class ClientSecurity:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    token_file: Path | None = None
    tls_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientSecurity:
        env = environment.current(env)

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            path("FULCRUM_CLIENT_CA_FILE"),
            path("FULCRUM_CLIENT_CERT_FILE"),
            path("FULCRUM_CLIENT_KEY_FILE"),
            path("FULCRUM_CLIENT_TOKEN_FILE"),
            env.get("FULCRUM_CLIENT_TLS_NAME") or None,
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.token_file is None:
            return ()
        try:
            token = self.token_file.read_text().strip()
        except OSError as e:
            raise ValueError(
                f"FULCRUM_CLIENT_TOKEN_FILE: cannot read {self.token_file} ({e.strerror})"
            ) from e
        if not token:
            raise ValueError(f"FULCRUM_CLIENT_TOKEN_FILE: {self.token_file} is empty")
        return (("authorization", f"Bearer {token}"),)

    def channel(self, address: str):
        import grpc

        if self.ca_file is None:
            if self.cert_file is not None or self.token_file is not None:
                raise ValueError(
                    "FULCRUM_CLIENT_CA_FILE: credentials are never sent in plaintext; set the server's CA"
                )
            return grpc.insecure_channel(address)
        try:
            creds = grpc.ssl_channel_credentials(
                root_certificates=self.ca_file.read_bytes(),
                private_key=self.key_file.read_bytes() if self.key_file else None,
                certificate_chain=self.cert_file.read_bytes() if self.cert_file else None,
            )
        except OSError as e:
            raise ValueError(f"client TLS files: cannot read {e.filename} ({e.strerror})") from e
        options = [("grpc.ssl_target_name_override", self.tls_name)] if self.tls_name else []
        return grpc.secure_channel(address, creds, options=options)
