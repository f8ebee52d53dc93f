"""The committed generated code is exactly what protoc makes from protos/ today."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ["recommender_pb2.py", "recommender_pb2.pyi", "recommender_pb2_grpc.py"]


def test_generated_code_is_current(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"), f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", "fulcrum/v1/recommender.proto"],
        check=True, cwd=ROOT,
    )
    for name in GENERATED:
        fresh = (tmp_path / "fulcrum" / "v1" / name).read_text()
        committed = (ROOT / "fulcrum" / "v1" / name).read_text()
        assert fresh == committed, f"fulcrum/v1/{name} is stale: run `make protos`"


def test_descriptor_set_is_current(tmp_path: Path) -> None:
    """protos/fulcrum-v1.protoset (for grpcurl, ghz, gateways) is what `make protos` writes today."""
    out = tmp_path / "fulcrum-v1.protoset"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"), "--include_imports",
         "--include_source_info", f"--descriptor_set_out={out}", "fulcrum/v1/recommender.proto"],
        check=True, cwd=ROOT,
    )
    assert out.read_bytes() == (ROOT / "protos" / "fulcrum-v1.protoset").read_bytes(), (
        "protos/fulcrum-v1.protoset is stale: run `make protos`"
    )


def test_descriptor_set_describes_the_service_with_its_docs() -> None:
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "protos" / "fulcrum-v1.protoset").read_bytes())
    (proto,) = [f for f in fds.file if f.name == "fulcrum/v1/recommender.proto"]
    methods = [m.name for s in proto.service if s.name == "Recommender" for m in s.method]
    assert {"Recommend", "Search", "IngestEvents", "GetModelInfo", "ReloadModel"} <= set(methods)
    assert proto.options.go_package.endswith("/clients/go/fulcrum/v1;fulcrumv1")
    # source info kept: grpcurl `describe` shows the field docs (units, ranges, defaults)
    assert any("max_k" in loc.leading_comments for loc in proto.source_code_info.location)


def test_event_types_match_schema() -> None:
    from fulcrum.core.schema import EVENT_TYPES
    from fulcrum.v1 import recommender_pb2 as pb

    wire = [n for n in pb.EventType.keys() if n != "EVENT_TYPE_UNSPECIFIED"]
    assert wire == list(EVENT_TYPES)
