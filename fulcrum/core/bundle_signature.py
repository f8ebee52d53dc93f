"""Ed25519 signatures of a bundle's manifest: signed when a bundle is published, checked at load.

The manifest lists every file with its sha256, so signing the manifest's exact bytes signs the
whole bundle. The signature is ``manifest.sig`` next to ``manifest.json`` (base64, one line).
Offline signs at publication (``fulcrum export`` into the bundles root, promotion in
``fulcrum retrain``) with the private key named by ``FULCRUM_BUNDLE_SIGNING_KEY_FILE``; a
candidate staged for judging is not signed, so a refused candidate can never pass a server that
checks signatures. Serving verifies against ``security.bundle_public_key_file``.
"""

from __future__ import annotations

import base64
from pathlib import Path

from fulcrum.core import bundle_format as bf
from fulcrum.core import environment

SIGNATURE = "manifest.sig"
KEY_ENV = "FULCRUM_BUNDLE_SIGNING_KEY_FILE"


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise RuntimeError("bundle signatures need 'cryptography': pip install 'fulcrum[serve]'") from e
    return serialization, ed25519, InvalidSignature


def new_keypair() -> tuple[bytes, bytes]:
    """(private key PEM, public key PEM) of a fresh ed25519 key."""
    serialization, ed25519, _ = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def load_public_key(pem: bytes):
    serialization, ed25519, _ = _crypto()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("not an ed25519 public key")
    return key


def sign_bundle(folder: Path, private_pem: bytes) -> Path:
    """Write ``folder/manifest.sig`` over the manifest's current bytes; returns its path."""
    serialization, ed25519, _ = _crypto()
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("not an ed25519 private key")
    signature = key.sign((Path(folder) / bf.MANIFEST).read_bytes())
    out = Path(folder) / SIGNATURE
    out.write_text(base64.b64encode(signature).decode("ascii") + "\n")
    return out


def sign_if_configured(folder: Path, env: dict[str, str] | None = None) -> Path | None:
    """Sign with the key file named by ``FULCRUM_BUNDLE_SIGNING_KEY_FILE``; None when unset."""
    key_file = environment.get(KEY_ENV, env)
    if not key_file:
        return None
    try:
        pem = Path(key_file).read_bytes()
    except OSError as e:
        raise RuntimeError(f"{KEY_ENV}: cannot read {key_file} ({e.strerror})") from e
    return sign_bundle(folder, pem)


def verify_manifest(manifest_bytes: bytes, signature_text: str, public_key) -> None:
    """Raise ValueError unless ``signature_text`` is the key's signature of ``manifest_bytes``."""
    _, _, invalid = _crypto()
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except ValueError as e:
        raise ValueError(f"{SIGNATURE} is not base64") from e
    try:
        public_key.verify(signature, manifest_bytes)
    except invalid as e:
        raise ValueError(f"{SIGNATURE} does not match the manifest (tampered, or another key)") from e
