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


def test_event_types_match_schema() -> None:
    from fulcrum.core.schema import EVENT_TYPES
    from fulcrum.v1 import recommender_pb2 as pb

    wire = [n for n in pb.EventType.keys() if n != "EVENT_TYPE_UNSPECIFIED"]
    assert wire == list(EVENT_TYPES)
