"""ghz (an independent Go gRPC load generator) as `fulcrum bench serve`'s second load generator.

Used when ``ghz`` is on PATH: its client costs far less CPU per call than the Python one, so the
two side by side show how much of a QPS figure is the load generator's own cost on a shared
machine. ghz's reflection client cannot read proto3 ``optional`` fields, so the bench compiles the
service's descriptor set itself (``grpc_tools.protoc --descriptor_set_out --include_imports``) and
gives ghz the file. The request data is a JSON array of one request per warm user, which ghz sends
in turn (round robin over the array for a unary call).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = Path("fulcrum/v1/recommender.proto")


def ghz_path() -> str | None:
    return shutil.which("ghz")


def build_protoset(out: Path) -> Path:
    """The service's descriptor set (with its imports) for ghz; ``RuntimeError`` naming the cause."""
    try:
        from grpc_tools import protoc
    except ImportError as e:
        raise RuntimeError("ghz needs a protoset: pip install grpcio-tools (the dev extra)") from e
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'protos'}",
            f"-I{include}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            str(ROOT / "protos" / PROTO),
        ]
    )
    if code != 0:
        raise RuntimeError(f"grpc_tools.protoc failed ({code}) compiling {PROTO}")
    return out


def run_ghz(
    ghz: str, protoset: Path, target: str, users: list[str], n: int, concurrency: int, workdir: Path
) -> dict:
    """Recommend for ``users`` in turn, ``n`` calls at ``concurrency``: QPS, p50/p99 ms, failures,
    and ghz's own CPU per call (its process's user + system time, from this process's rusage of
    waited-for children: run nothing else as a child meanwhile)."""
    import resource

    data = workdir / "recommend.json"
    data.write_text(json.dumps([{"user_id": u, "k": 10} for u in users]))
    cmd = [
        ghz,
        "--insecure",
        "--protoset",
        str(protoset),
        "--call",
        "fulcrum.v1.Recommender/Recommend",
        "-D",
        str(data),
        "-n",
        str(n),
        "-c",
        str(concurrency),
        "--format",
        "json",
        target,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if not proc.stdout.strip():
        raise RuntimeError(f"ghz failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    lat = {x["percentage"]: x["latency"] / 1e6 for x in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    return {
        "qps": float(report["rps"]),
        "p50_ms": lat.get(50, float("nan")),
        "p99_ms": lat.get(99, float("nan")),
        "calls": n,
        "failures": sum(v for k, v in codes.items() if k != "OK"),
        "client_cpu_ms_per_call": cpu_s / max(n, 1) * 1000.0,
    }


if __name__ == "__main__":  # python -m benchmarks.ghz_load OUT.protoset
    print(build_protoset(Path(sys.argv[1])))
