"""`fulcrum forget --user ID`: erase a user from the stores, and tell running servers.

    fulcrum forget --user 12347 --feature-repo feature_repo --store redis \\
        --offline-dir artifacts/offline --data artifacts/data --server fulcrum-server-pods:50051

Erases the user's rows from the offline events (``--offline-dir``'s ingested events and each
``--data`` folder's prepared ``events.parquet``), records them in the forgotten-users ledger
(retraining skips them from then on), erases the Feast repo's batch sources and online store
(SQLite or Redis), the idempotency keys of their events (Redis, ``FULCRUM_REDIS_URL``, when the
store is Redis), then calls ``ForgetUser`` on every address of every ``--server`` (their
in-process state; credentials ``FULCRUM_CLIENT_*``). Exit 0 when everything was erased, 1 when a
server could not be told, 2 on bad input or an unavailable store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fulcrum.core import environment


def forget(
    user: Annotated[str, typer.Option("--user", help="The user id to erase.")],
    feature_repo: Annotated[
        Path | None, typer.Option("--feature-repo", help="Feast repo (online store + batch sources).")
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="sqlite | redis (default FULCRUM_FEATURE_STORE or sqlite).")
    ] = None,
    redis_url: Annotated[str | None, typer.Option("--redis-url", help="Default FULCRUM_REDIS_URL.")] = None,
    offline_dir: Annotated[
        Path | None, typer.Option("--offline-dir", help="The offline store (ingested events + ledger).")
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="A prepared data folder (events.parquet); repeatable.")
    ] = None,
    server: Annotated[
        list[str] | None,
        typer.Option("--server", help="HOST:PORT of a server to call ForgetUser on; repeatable."),
    ] = None,
) -> None:
    """Erase one user from every store (GDPR erasure); see docs/security.md."""
    from fulcrum.core.errors import DomainError
    from online.privacy.forget import Forgetter

    feature_store, dedupe = None, []
    if feature_repo is not None:
        from fulcrum.core.feature_store import open_store, resolve_store

        try:
            feature_store = open_store(feature_repo, store, redis_url)
            if resolve_store(store) == "redis":

                from fulcrum.core.feature_store import DEFAULT_REDIS_URL, ENV_REDIS_URL
                from online.ingest.dedupe import RedisDedupe

                url = redis_url or environment.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL
                dedupe.append(RedisDedupe.from_url(url))
        except (OSError, ValueError) as e:
            typer.echo(f"error: --feature-repo {feature_repo}: {e}", err=True)
            raise typer.Exit(2) from e
    forgetter = Forgetter(
        offline_dir=offline_dir, prepared_dirs=data or (), feature_store=feature_store,
        feature_repo=feature_repo, dedupe=dedupe,
    )
    try:
        report = forgetter.forget(user)
    except (DomainError, OSError) as e:
        typer.echo(f"error: forget stopped (run it again, every step is idempotent): {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(
        f"erased: {report.offline_events} offline events ({report.offline_files} files), "
        f"{report.batch_rows} batch-source rows, {report.online_entries} online entries, "
        f"{report.idempotency_keys} idempotency keys"
        + "".join(f"\nnote: {n}" for n in report.notes)
    )
    code = 0
    for result in _tell_servers(server or [], user):
        typer.echo(result)
        code = 1 if result.startswith("FAILED") else code
    raise typer.Exit(code)


def _tell_servers(targets: list[str], user: str) -> list[str]:
    if not targets:
        return []
    import grpc

    from fulcrum.client.channel import ClientSecurity
    from fulcrum.client.reload import addresses
    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    security = ClientSecurity.from_env()
    out = []
    for target in targets:
        try:
            addrs = addresses(target)
            metadata = security.metadata()
        except ValueError as e:
            out.append(f"FAILED {target}: {e}")
            continue
        for addr in addrs:
            try:
                with security.channel(addr) as channel:
                    reply = recommender_pb2_grpc.RecommenderStub(channel).ForgetUser(
                        pb.ForgetUserRequest(user_id=user), metadata=metadata, timeout=120
                    )
                out.append(f"server {addr}: erased {reply.online_entries} online entries, "
                           f"{reply.offline_events} offline events")
            except (grpc.RpcError, ValueError) as e:
                detail = f"{e.code().name}: {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
                out.append(f"FAILED {addr}: {detail}")
    return out
