"""Tell running servers to load a bundle: ``ReloadModel`` on every address of every target.

A target is ``HOST:PORT``; the host is resolved and EVERY address gets the call, so a
Kubernetes headless Service (one A record per ready pod) reaches each replica. A server that
refuses the bundle (it failed verification) keeps serving its old one and is reported here.
The call names a version (resolved by each server under its bundles_root), never a path;
credentials come from ``FULCRUM_CLIENT_*`` (fulcrum/client/channel.py).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

from fulcrum.client.channel import ClientSecurity


@dataclass(frozen=True)
class ReloadResult:
    address: str
    ok: bool
    version: str = ""
    previous: str = ""
    error: str = ""


def parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"server: expected HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)


def addresses(target: str) -> list[str]:
    """Every address ``HOST:PORT`` resolves to, as gRPC targets (IPv6 in brackets), de-duplicated."""
    host, port = parse_target(target)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ValueError(f"server: cannot resolve {host!r} ({e})") from e
    out: list[str] = []
    for family, _, _, _, sockaddr in infos:
        ip = sockaddr[0]
        addr = f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"
        if addr not in out:
            out.append(addr)
    return out


def reload_servers(
    targets: Iterable[str],
    version: str,
    timeout_s: float = 300.0,
    allow_rollback: bool = False,
    security: ClientSecurity | None = None,
) -> list[ReloadResult]:
    """``ReloadModel(version=...)`` (a published version name under the servers' bundles_root)
    on every address, with the credentials of ``security`` (default: ``FULCRUM_CLIENT_*``)."""
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    security = ClientSecurity.from_env() if security is None else security
    try:
        metadata = security.metadata()
    except ValueError as e:
        return [ReloadResult(t, False, error=str(e)) for t in targets]
    results = []
    for target in targets:
        try:
            addrs = addresses(target)
        except ValueError as e:
            results.append(ReloadResult(target, False, error=str(e)))
            continue
        for addr in addrs:
            try:
                channel = security.channel(addr)
            except ValueError as e:
                results.append(ReloadResult(addr, False, error=str(e)))
                continue
            with channel:
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                try:
                    reply = stub.ReloadModel(
                        pb.ReloadModelRequest(version=version, allow_rollback=allow_rollback),
                        metadata=metadata,
                        timeout=timeout_s,
                        wait_for_ready=False,
                    )
                    results.append(ReloadResult(addr, True, reply.bundle_version, reply.previous_version))
                except grpc.RpcError as e:
                    results.append(ReloadResult(addr, False, error=f"{e.code().name}: {e.details()}"))
    return results
