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
) -> None:
    """A development CA, server certificate (localhost), client certificates and one token per role."""
    from fulcrum.security.dev_setup import dev_setup

    try:
        dev_setup(out, force=force)
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
