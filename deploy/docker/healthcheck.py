"""Container health check for the Fulcrum gRPC server, through the standard gRPC health service.

Used by the serving image's HEALTHCHECK and by compose. Kubernetes does not need it: its native
`grpc:` probes call the same service. Exit code 0 when the server answers SERVING, 1 otherwise
(not serving, unreachable, or no answer within the timeout), with one line saying why.

    python healthcheck.py [--address HOST:PORT] [--service NAME] [--timeout SECONDS]

Defaults come from the environment: FULCRUM_HEALTH_ADDRESS, else
127.0.0.1:$FULCRUM_SECURITY_HEALTH_PORT (the server's plaintext health-only listener), else
127.0.0.1:$FULCRUM_PORT (the server's port override, see online/config.py; 50051 when unset: a
plaintext server), and FULCRUM_HEALTH_SERVICE ("" = the server as a whole). The API port of a
TLS server needs no health check of its own: the health-only port answers for the same server.
"""

from __future__ import annotations

import argparse
import os
import sys


def _default_address() -> str:
    explicit = os.environ.get("FULCRUM_HEALTH_ADDRESS")
    if explicit:
        return explicit
    health_port = os.environ.get("FULCRUM_SECURITY_HEALTH_PORT")
    if health_port:
        return f"127.0.0.1:{health_port}"
    return f"127.0.0.1:{os.environ.get('FULCRUM_PORT', '50051')}"


def check(address: str, service: str, timeout: float) -> tuple[bool, str]:
    """Ask the health service at `address` about `service`; return (serving, what was seen)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as e:
            return False, f"{address}: {e.code().name} {e.details() or ''}".strip()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=_default_address())
    parser.add_argument("--service", default=os.environ.get("FULCRUM_HEALTH_SERVICE", ""))
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    serving, seen = check(args.address, args.service, args.timeout)
    print(seen)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
