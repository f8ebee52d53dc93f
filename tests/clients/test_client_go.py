"""The Go client (clients/go/): its generated code is current, plain `protoc --go_out
--go-grpc_out` needs no extra flags, and `go test` passes against a real `fulcrum serve`
(the Go test starts it with the tiny bundle built here; clients/go/fulcrum/serve_test.go).

Go comes from the machine (CI has it); the protoc plugins are pinned as tools in
clients/go/go.mod and the modules come from the Go module proxy. Without Go these tests skip
with a hint, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fulcrum.client.service_config import service_config_json
from tests.serve_process import write_loopback_config
from tests.serving_helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]
GO_DIR = ROOT / "clients" / "go"
GENERATED = ["recommender.pb.go", "recommender_grpc.pb.go"]
GO_PACKAGE_DIR = "github.com/fulcrumrec/fulcrum/clients/go/fulcrum/v1"
PLUGINS = ["google.golang.org/protobuf/cmd/protoc-gen-go", "google.golang.org/grpc/cmd/protoc-gen-go-grpc"]


def _go() -> str:
    # the standard install location, for shells whose PATH lacks it
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found:
        return found
    hint = "go is not installed (https://go.dev/doc/install); the Go client tests need it"
    if os.environ.get("CI"):
        pytest.fail(hint)
    pytest.skip(hint)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = env.get("GOFLAGS", "")
    if "-buildvcs" not in flags:  # the module is a folder of a larger repository
        env["GOFLAGS"] = f"{flags} -buildvcs=false".strip()
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900):
    out = subprocess.run(cmd, cwd=cwd, env=env or _go_env(), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    """protoc-gen-go and protoc-gen-go-grpc at the versions clients/go/go.mod pins."""
    out = tmp_path_factory.mktemp("go-plugins")
    _run([_go(), "build", "-o", f"{out}{os.sep}", *PLUGINS], GO_DIR)
    return out


def _protoc(plugins: Path, out: Path, *go_opts: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I", "protos",
            f"--plugin=protoc-gen-go={plugins / 'protoc-gen-go'}",
            f"--plugin=protoc-gen-go-grpc={plugins / 'protoc-gen-go-grpc'}",
            f"--go_out={out}", f"--go-grpc_out={out}", *go_opts,
            "protos/fulcrum/v1/recommender.proto",
        ],
        ROOT,
    )


def test_generated_go_code_is_current(plugins, tmp_path):
    _protoc(plugins, tmp_path, "--go_opt=paths=source_relative", "--go-grpc_opt=paths=source_relative")
    for name in GENERATED:
        fresh = (tmp_path / "fulcrum" / "v1" / name).read_text()
        committed = (GO_DIR / "fulcrum" / "v1" / name).read_text()
        assert fresh == committed, f"clients/go/fulcrum/v1/{name} is stale: run `make clients`"


def test_plain_protoc_with_the_go_plugins_needs_no_extra_flags(plugins, tmp_path):
    """What a Go team does on its own: no M flags, no go_package override; the file's go_package
    puts the code at its import path."""
    _protoc(plugins, tmp_path)
    for name in GENERATED:
        generated = (tmp_path / GO_PACKAGE_DIR / name).read_text()
        assert generated == (GO_DIR / "fulcrum" / "v1" / name).read_text()


@pytest.mark.slow
def test_go_client_against_fulcrum_serve(tmp_path):
    bundle = make_bundle(tmp_path / "bundle", version="go-client-1")
    env = _go_env()
    config = write_loopback_config(tmp_path / "serve.yaml")
    env.update(
        GOCLIENT_PYTHON=sys.executable, GOCLIENT_REPO=str(ROOT), GOCLIENT_BUNDLE=str(bundle),
        GOCLIENT_CONFIG=str(config), GOCLIENT_PYTHON_SERVICE_CONFIG=service_config_json(),
    )
    _run([_go(), "vet", "./..."], GO_DIR, env)
    out = _run([_go(), "test", "-count=1", "-v", "./..."], GO_DIR, env)
    print(out.stdout)  # per-test timings and the latency line (pytest -s shows them)
    assert "--- SKIP" not in out.stdout, out.stdout
    for test in (
        "TestEveryRPCAgainstTheRealServer",
        "TestInvalidArgumentNamesTheFieldAndEchoesTheRequestID",
        "TestUnavailableIsRetriedByTheServiceConfig",
        "TestRetriesStopAtMaxAttemptsAndCanBeSwitchedOff",
        "TestDeadlinesFromTheContextAndFromTheServiceConfig",
    ):
        assert f"--- PASS: {test} " in out.stdout, out.stdout
