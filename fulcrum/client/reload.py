"""Tell running servers to load a bundle: ``ReloadModel`` on every address of every target.

A target is ``HOST:PORT``; the host is resolved and EVERY address gets the call, so a
Kubernetes headless Service (one A record per ready pod) reaches each replica. A server that
refuses the bundle (it failed verification) keeps serving its old one and is reported here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass


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


def reload_servers(targets: Iterable[str], bundle_path: str, timeout_s: float = 300.0) -> list[ReloadResult]:
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    results = []
    for target in targets:
        try:
            addrs = addresses(target)
        except ValueError as e:
            results.append(ReloadResult(target, False, error=str(e)))
            continue
        for addr in addrs:
            with grpc.insecure_channel(addr) as channel:
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                try:
                    reply = stub.ReloadModel(
                        pb.ReloadModelRequest(bundle_path=bundle_path),
                        timeout=timeout_s,
                        wait_for_ready=False,
                    )
                    results.append(ReloadResult(addr, True, reply.bundle_version, reply.previous_version))
                except grpc.RpcError as e:
                    results.append(ReloadResult(addr, False, error=f"{e.code().name}: {e.details()}"))
    return results
