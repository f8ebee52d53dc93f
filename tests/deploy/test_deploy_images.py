"""The images: what the Dockerfiles install and copy (the serving image never gets torch, and
the CLI it runs imports nothing outside the serve extra), and the container health check script,
run for real against a gRPC health service on port 0."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import py_compile
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import deploy_files as df


def test_cli_imports_from_the_serving_packages_alone(tmp_path: Path) -> None:
    """In the serving image only the serve extra is installed and there is no repository root on
    sys.path. `fulcrum serve` and `fulcrum ingest` (the CLI plus the modules of those commands,
    which the CLI imports on first use) must load nothing from a distribution outside the serve
    extra."""
    import subprocess

    probe = (
        "import json, sys\n"
        "before = set(sys.modules)  # what the interpreter loaded at start-up (.pth hooks)\n"
        "import typer\n"
        "from fulcrum.cli import app\n"
        "group = typer.main.get_command(app)\n"
        "names = sorted(group.commands)\n"
        "loaded = [group.commands[name] for name in ('serve', 'ingest', 'replay')]\n"
        "new = set(sys.modules) - before\n"
        "top = sorted({m.split('.')[0] for m in new} - set(sys.stdlib_module_names))\n"
        "print(json.dumps({'commands': names, 'modules': top}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"serve", "ingest"} <= set(seen["commands"])
    closure = df.serve_closure()
    owners = metadata.packages_distributions()
    outside = {}
    for module in seen["modules"]:
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if dists and not dists & closure:
            outside[module] = sorted(dists)
    assert outside == {}, f"importing the CLI loads modules the serving image does not have: {outside}"


def test_serving_image_never_installs_torch_or_the_train_extra() -> None:
    instructions = df.dockerfile(df.DOCKER / "Dockerfile.serve")
    text = " ".join(rest for _, rest in instructions).lower()
    for banned in ("torch", "transformers", "[train", ",train", "train]"):
        assert banned not in text, banned
    installs = df.pip_installs(instructions)
    assert installs
    for cmd in installs:
        extras = set(re.findall(r"\[([a-z,]+)\]", cmd))
        assert extras <= {"serve"}, cmd
    froms = [rest.split()[0] for word, rest in instructions if word == "FROM"]
    stages = {rest.split()[-1] for word, rest in instructions if word == "FROM" and " AS " in rest.upper()}
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    # the base is a build argument (a local base where no registry is reachable); the rest are stages
    assert {args.get(f.strip("${}"), f) for f in froms} - stages == {"python:3.11-slim"}
    assert stages == {"build", "runtime", "ingest", "serve"}


def test_the_serve_extra_does_not_pull_training_packages() -> None:
    """What `pip install '.[serve]'` resolves to, computed from the installed packages' metadata."""
    closure = df.serve_closure()
    assert {"grpcio", "feast", "kafka-python"} <= closure
    assert closure & df.HEAVY_TRAINING_PACKAGES == set()


def test_serving_image_user_entrypoint_and_healthcheck() -> None:
    instructions = df.dockerfile(df.DOCKER / "Dockerfile.serve")
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # the last stage (the default target) serves; the ingest stage runs the consumer
    entrypoints = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoints[-1]) == df.SERVE_ARGV
    assert [yaml.safe_load(e) for e in entrypoints[:-1]] == [["fulcrum", "ingest"]]
    (health,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "/app/healthcheck.py" in health
    copies = [rest for word, rest in instructions if word == "COPY"]
    assert any("deploy/docker/healthcheck.py ./healthcheck.py" in c for c in copies)
    assert any(w == "WORKDIR" and r == "/app" for w, r in instructions)
    assert any("--mount=type=cache" in cmd for cmd in df.pip_installs(instructions))


def test_training_image_installs_train_and_serve_extras() -> None:
    instructions = df.dockerfile(df.DOCKER / "Dockerfile.train")
    installs = " ".join(df.pip_installs(instructions))
    assert "'.[train,serve]'" in installs
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def _ignore_allows(patterns: list[str], path: str) -> bool:
    """Whether a .dockerignore (``**`` then ``!`` exceptions, as ours are written) lets ``path`` in."""
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!")
        if glob == "**" or fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path + "/x", glob):
            allowed = negate
    return allowed


def test_images_contain_the_python_packages_they_need() -> None:
    """The training image holds every package of the project; the serving images only fulcrum/
    and online/ (the CLI imports a command's module on first use, tests/app/test_cli_lazy.py)."""
    find = tomllib.loads((df.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in find["include"]}
    assert {"fulcrum", "online", "offline", "benchmarks"} <= packages
    wanted = {"Dockerfile.serve": {"fulcrum", "online"}, "Dockerfile.train": packages}
    for dockerfile, needs in wanted.items():
        copied = {rest.split()[-2] for word, rest in df.dockerfile(df.DOCKER / dockerfile)
                  if word == "COPY" and "--from" not in rest}
        assert needs <= copied, f"{dockerfile} does not copy {sorted(needs - copied)}"
        if dockerfile == "Dockerfile.serve":
            assert not copied & {"offline", "benchmarks"}, copied
        ignore = [line.strip() for line in (df.DOCKER / f"{dockerfile}.dockerignore").read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
        for source in copied | {"pyproject.toml"}:
            assert _ignore_allows(ignore, source), f"{dockerfile}.dockerignore keeps out {source}"


def test_every_copied_path_exists_in_the_build_context() -> None:
    for dockerfile in ("Dockerfile.serve", "Dockerfile.train"):
        for word, rest in df.dockerfile(df.DOCKER / dockerfile):
            if word == "COPY" and "--from" not in rest:
                sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
                for source in sources:
                    assert (df.ROOT / source).exists(), f"{dockerfile}: COPY {source}"


def _load_healthcheck() -> Any:
    spec = importlib.util.spec_from_file_location("fulcrum_deploy_healthcheck", df.DOCKER / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(df.DOCKER / "healthcheck.py"), cfile=str(tmp_path / "h.pyc"), doraise=True)


def test_healthcheck_reports_the_real_health_service(capsys: pytest.CaptureFixture[str]) -> None:
    from concurrent import futures

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    healthcheck = _load_healthcheck()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert healthcheck.main(["--address", address]) == 0
        assert capsys.readouterr().out.strip() == f"{address}: SERVING"
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert healthcheck.main(["--address", address]) == 1
        assert "NOT_SERVING" in capsys.readouterr().out
        # A service the server does not know about: NOT_FOUND, unhealthy.
        assert healthcheck.main(["--address", address, "--service", "nope"]) == 1
        assert "NOT_FOUND" in capsys.readouterr().out
    finally:
        server.stop(None)
    # Nothing listening any more.
    assert healthcheck.main(["--address", address, "--timeout", "1"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().out
