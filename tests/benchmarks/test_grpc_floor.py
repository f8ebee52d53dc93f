"""benchmarks/grpc_floor.py measures what it says: its empty servers answer the Recommender's
GetModelInfo with an empty reply over real gRPC, its layers are Fulcrum's own, and the ceiling
arithmetic is the CPU budget of the cores."""

from __future__ import annotations

import grpc
import pytest
import typer
from google.protobuf import descriptor_pb2

from benchmarks.grpc_floor import _ceiling, _stack, _start_empty, health_protoset
from benchmarks.real_path import stop_server
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.security.limits import LimitsConfig
from online.server.interceptors import ObservedInterceptor


@pytest.mark.parametrize("kind", ["aio", "sync", "aio+interceptor+maxrpcs+options"])
def test_empty_server_answers_get_model_info_with_an_empty_reply(kind, tmp_path) -> None:
    procs, target = _start_empty(kind, 1, tmp_path)
    try:
        with grpc.insecure_channel(target) as ch:
            reply = recommender_pb2_grpc.RecommenderStub(ch).GetModelInfo(
                pb.GetModelInfoRequest(), timeout=10
            )
        assert reply == pb.ModelInfo()  # every field at its default: nothing was built
    finally:
        for p in procs:
            stop_server(p)


def test_layers_are_fulcrums_own_and_unknown_ones_are_refused() -> None:
    kw = _stack(["interceptor", "maxrpcs", "options", "grpc.http2.bdp_probe=0"])
    assert isinstance(kw["interceptors"][0], ObservedInterceptor)
    assert kw["maximum_concurrent_rpcs"] == LimitsConfig().max_concurrent_rpcs
    assert ("grpc.http2.bdp_probe", 0) in kw["options"]
    assert ("grpc.max_receive_message_length", LimitsConfig().max_receive_message_bytes) in kw["options"]
    assert _stack([]) == {"options": []}
    with pytest.raises(typer.BadParameter, match="unknown layer"):
        _stack(["reflection"])


def test_health_protoset_describes_the_health_service(tmp_path) -> None:
    fds = descriptor_pb2.FileDescriptorSet.FromString(health_protoset(tmp_path / "h.protoset").read_bytes())
    services = [s.name for f in fds.file for s in f.service]
    assert services == ["Health"] and fds.file[0].package == "grpc.health.v1"


def test_ceiling_is_the_cores_cpu_over_server_plus_client_cpu_per_call() -> None:
    # 2 cores = 2,000 ms of CPU per second; 1.0 ms server + 0.25 ms ghz per call -> 1,600 calls/s
    assert _ceiling({"server_cpu_ms": 1.0, "ghz_cpu_ms": 0.25}) == pytest.approx(1600.0)
    # the 1,500 calls/s goal leaves 2000 / 1500 = 1.333 ms per call in all
    assert _ceiling({"server_cpu_ms": 1.0, "ghz_cpu_ms": 1 / 3}) == pytest.approx(1500.0)
