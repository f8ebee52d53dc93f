"""The gRPC service config the Fulcrum clients use: default deadlines and the retry policy.

gRPC applies it inside the channel (the same JSON works in every language; the Go client in
clients/go/ ships the same policy), so a retried call is one call for the caller:

- every method is retried on UNAVAILABLE only, with exponential backoff (0.1 s doubling up to
  2 s, randomised by gRPC), at most ``max_attempts`` attempts in all. That is safe for every
  Fulcrum RPC: Recommend, Search and GetModelInfo only read, IngestEvents is idempotent on
  ``event_id`` (per server process: docs/api.md) and ReloadModel on its bundle path.
  Nothing else is retried: INVALID_ARGUMENT would fail again, and DEADLINE_EXCEEDED means the
  caller's time is up.
- a call without its own deadline gets ``timeout_s`` (IngestEvents and ReloadModel, which can
  take long, get ``long_timeout_s``); a call's own deadline wins when shorter.
- retry throttling stops retries when most calls fail (a server down for good is not hammered).
- client-side load balancing is ``round_robin`` with gRPC client-side health checking
  (``healthCheckConfig`` on ``fulcrum.v1.Recommender``, the name the server sets SERVING and, on
  shutdown or drain, NOT_SERVING): every address the target resolves to gets a connection, and
  a call goes only to a backend whose health says SERVING. So a server that starts draining
  (docs/deployment.md, rolling restart) leaves the rotation before its port closes. A server
  without the health service (UNIMPLEMENTED) is used as if healthy, per gRPC's health-checking
  design; health calls need no token (the server keeps them open).

A client-streaming IngestEvents call is retried only while its messages fit gRPC's per-call
retry buffer (256 KiB by default); past that a failure is returned and the stream can be resent
as a whole (events already applied count as duplicates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SERVICE = "fulcrum.v1.Recommender"
LONG_METHODS = ("IngestEvents", "ReloadModel")


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


@dataclass(frozen=True)
class RetryPolicy:
    """Validated knobs of the service config; ``max_attempts=1`` switches retries off."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    backoff_multiplier: float = 2.0
    timeout_s: float = 10.0
    long_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        # gRPC caps maxAttempts at 5 and silently ignores a config it cannot parse: say it here
        if not 1 <= self.max_attempts <= 5:
            raise ValueError(f"max_attempts: must be in 1..5 (gRPC's cap), got {self.max_attempts}")
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError(
                f"initial_backoff_s: must be > 0 and <= max_backoff_s, got {self.initial_backoff_s}"
            )
        if self.backoff_multiplier <= 0:
            raise ValueError(f"backoff_multiplier: must be > 0, got {self.backoff_multiplier}")
        for name in ("timeout_s", "long_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")


def service_config(policy: RetryPolicy = RetryPolicy()) -> dict:  # noqa: B008 (frozen, never mutated)
    """The service config as a dict (``json.dumps`` it for ``grpc.service_config``)."""

    def method_config(names: list[dict], timeout_s: float) -> dict:
        config: dict = {"name": names, "timeout": _duration(timeout_s)}
        if policy.max_attempts > 1:
            config["retryPolicy"] = {
                "maxAttempts": policy.max_attempts,
                "initialBackoff": _duration(policy.initial_backoff_s),
                "maxBackoff": _duration(policy.max_backoff_s),
                "backoffMultiplier": policy.backoff_multiplier,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        return config

    long_names = [{"service": SERVICE, "method": m} for m in LONG_METHODS]
    config: dict = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": SERVICE},
        "methodConfig": [
            # the service-wide entry covers every other method, including ones added later
            method_config([{"service": SERVICE}], policy.timeout_s),
            method_config(long_names, policy.long_timeout_s),
        ],
    }
    if policy.max_attempts > 1:
        config["retryThrottling"] = {"maxTokens": 10, "tokenRatio": 0.1}
    return config


def service_config_json(policy: RetryPolicy = RetryPolicy()) -> str:  # noqa: B008
    return json.dumps(service_config(policy), sort_keys=True)
