"""Roles and which RPC needs which: the one table the auth interceptor reads.

``recommend`` (Recommend, Search, GetModelInfo) for shop front ends, ``ingest`` (IngestEvents)
for event producers, ``admin`` (ReloadModel, ForgetUser) for operators and the retraining job.
A role grants only its own RPCs (an admin token cannot Recommend). Health checks are open (load
balancers and kubelets probe without credentials); reflection needs any valid credential. A
method missing from the table is refused (fail closed), so a new RPC is unusable until it is
given a role here.
"""

from __future__ import annotations

from enum import Enum

RECOMMEND = "recommend"
INGEST = "ingest"
ADMIN = "admin"
ROLES: tuple[str, ...] = (RECOMMEND, INGEST, ADMIN)

_SERVICE = "/fulcrum.v1.Recommender/"

METHOD_ROLES: dict[str, str] = {
    _SERVICE + "Recommend": RECOMMEND,
    _SERVICE + "Search": RECOMMEND,
    _SERVICE + "GetModelInfo": RECOMMEND,
    _SERVICE + "IngestEvents": INGEST,
    _SERVICE + "ReloadModel": ADMIN,
    _SERVICE + "ForgetUser": ADMIN,
}

OPEN_PREFIXES: tuple[str, ...] = ("/grpc.health.v1.Health/",)
ANY_ROLE_PREFIXES: tuple[str, ...] = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


class Access(Enum):
    OPEN = "open"  # no credential needed
    ANY_ROLE = "any_role"  # any authenticated caller
    ROLE = "role"  # the role METHOD_ROLES names
    DENIED = "denied"  # not in the table: nobody


def access_of(method: str) -> tuple[Access, str | None]:
    """How ``method`` (``/package.Service/Method``) is guarded, and the role it needs."""
    role = METHOD_ROLES.get(method)
    if role is not None:
        return Access.ROLE, role
    if method.startswith(OPEN_PREFIXES):
        return Access.OPEN, None
    if method.startswith(ANY_ROLE_PREFIXES):
        return Access.ANY_ROLE, None
    return Access.DENIED, None
