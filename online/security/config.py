"""The ``security:`` block of the serving config: transport, credentials, roles, reflection.

    security:
      tls_cert_file: /etc/fulcrum/tls/server.crt   # PEM chain; with tls_key_file: TLS on
      tls_key_file: /etc/fulcrum/tls/server.key
      tls_client_ca_file: /etc/fulcrum/tls/ca.crt  # set: mutual TLS, every client shows a cert
      tokens_file: /etc/fulcrum/auth/tokens.yaml   # bearer tokens, stored as sha256 (a Secret)
      identities:                                  # mTLS: certificate CN or SAN -> roles
        retrain-job: [admin]
      reflection: false

Plaintext needs ``allow_plaintext: true`` and no credential needs ``allow_unauthenticated:
true`` (both only for the loopback demo and tests): nothing is open by omission. The rules a
config must satisfy are checked by ``check_security`` when the server starts, naming the field.
Environment overrides: ``FULCRUM_SECURITY_<FIELD>`` (scalars only; tokens come from a file).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from online.security.roles import ROLES


class TokenEntry(BaseModel):
    """One bearer token: its sha256 (hex, never the token itself), a name for logs, its roles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    roles: tuple[str, ...] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {unknown} (allowed: {', '.join(ROLES)})")
        return roles


#: the ``security:`` block of an in-process server on loopback (demo, benchmarks, tests)
LOOPBACK_DEMO = {"allow_plaintext": True, "allow_unauthenticated": True}


class SecurityConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: serve without TLS (the loopback demo and tests only; refused unless set)
    allow_plaintext: bool = False
    #: serve every RPC to any caller without a credential (the loopback demo and tests only)
    allow_unauthenticated: bool = False
    #: the server's certificate chain and private key (PEM); both or neither. The files are
    #: re-read when they change (checked at each new TLS handshake): rotate without a restart
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: CA bundle (PEM) that signs client certificates; set = mutual TLS, a client without a
    #: certificate of this CA cannot connect
    tls_client_ca_file: Path | None = None
    #: YAML/JSON file with ``tokens: [{name, sha256, roles}]`` (a mounted Secret)
    tokens_file: Path | None = None
    #: tokens inline (same entries; prefer tokens_file, a config file is not a secret store)
    tokens: tuple[TokenEntry, ...] = ()
    #: mTLS identities: a client certificate's subject CN or a SAN (DNS, URI, e-mail, IP) -> roles
    identities: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: ed25519 public key (PEM) whose signature (manifest.sig) every bundle must carry; None:
    #: signatures are not checked (a warning at start-up)
    bundle_public_key_file: Path | None = None
    #: a second, PLAINTEXT listener on this port serving only grpc.health.v1.Health (for probes
    #: that cannot speak TLS, e.g. Kubernetes' native gRPC probes); None: no such listener
    health_port: int | None = Field(None, ge=0, le=65535)
    #: a separate listener for the admin RPCs (ReloadModel, ForgetUser) on admin_host; set: the
    #: main port refuses them. None: admin RPCs on the main port (role admin still needed)
    admin_port: int | None = Field(None, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    #: gRPC server reflection; None = on only for a plaintext server (the demo)
    reflection: bool | None = None

    @field_validator("identities")
    @classmethod
    def _identity_roles(cls, ids: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, roles in ids.items():
            unknown = [r for r in roles if r not in ROLES]
            if unknown:
                raise ValueError(f"{name}: unknown role(s) {unknown} (allowed: {', '.join(ROLES)})")
            if not roles:
                raise ValueError(f"{name}: no role")
        return ids

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def mutual_tls(self) -> bool:
        return self.tls_client_ca_file is not None

    @property
    def reflection_on(self) -> bool:
        return (not self.tls) if self.reflection is None else self.reflection
