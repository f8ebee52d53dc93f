"""`fulcrum security ...`: development certificates and tokens, token hashing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

security_app = typer.Typer(no_args_is_help=True, help="TLS certificates and tokens (docs/security.md).")


@security_app.command("dev-setup")
def dev_setup_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the CA, certificates, tokens, serve.yaml.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing set.")] = False,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="Another server certificate name or IP (repeatable), e.g. server."),
    ] = None,
) -> None:
    """A development CA, server certificate (localhost), client certificates and one token per role."""
    from fulcrum.security.dev_setup import DEFAULT_HOSTS, dev_setup

    try:
        dev_setup(out, force=force, hosts=(*DEFAULT_HOSTS, *(host or ())))
    except FileExistsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(
        f"wrote {out}: ca.crt, server.crt/.key, clients/<role>.crt/.key, tokens/<role>.token, "
        f"tokens.yaml, serve.yaml\nserve:  fulcrum serve --bundle BUNDLE --config {out}/serve.yaml\n"
        "grpcurl commands per role: docs/security.md"
    )


@security_app.command("hash-token")
def hash_token_command(
    new: Annotated[bool, typer.Option("--new", help="Generate a random token (printed first).")] = False,
) -> None:
    """The sha256 of a token read from stdin (for tokens_file), or of a new random one."""
    import sys

    from online.security.tokens import hash_token, new_token

    if new:
        token = new_token()
        typer.echo(token)
    else:
        token = sys.stdin.readline().strip()
        if not token:
            typer.echo("error: no token on stdin (or use --new)", err=True)
            raise typer.Exit(2)
    typer.echo(hash_token(token))


@security_app.command("bundle-keygen")
def bundle_keygen_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for bundle-signing.key (0600) and .pub.")],
) -> None:
    """An ed25519 key pair for bundle signatures (signing key: export/retrain; public: serve)."""
    import os

    from fulcrum.core.bundle_signature import new_keypair

    key, pub = out / "bundle-signing.key", out / "bundle-signing.pub"
    if key.exists():
        typer.echo(f"error: {key} exists; delete it first (servers trust its public key)", err=True)
        raise typer.Exit(2)
    private, public = new_keypair()
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    pub.write_bytes(public)
    typer.echo(
        f"wrote {key} (FULCRUM_BUNDLE_SIGNING_KEY_FILE for export/retrain) and {pub} "
        "(security.bundle_public_key_file for serve)"
    )


@security_app.command("sign-bundle")
def sign_bundle_command(
    bundle: Annotated[Path, typer.Option("--bundle", help="Bundle folder (its manifest.json is signed).")],
    key: Annotated[Path, typer.Option("--key", help="ed25519 private key (PEM).")],
) -> None:
    """Sign a published bundle's manifest (export and promotion do it when the key is configured)."""
    from fulcrum.core.bundle_signature import sign_bundle

    try:
        out = sign_bundle(bundle, key.read_bytes())
    except (OSError, ValueError) as e:
        typer.echo(f"error: cannot sign {bundle}: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"wrote {out}")
