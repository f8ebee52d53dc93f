"""The no-registry path of `make images` / `make compose-test`, checked as files (building and
running them is `make images` and `make compose-test`, which need a Docker engine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests import deploy_files as df

SCRIPTS = sorted([*df.DOCKER.glob("*.sh"), *(df.DOCKER / "kafka" / "bin").glob("*.sh"),
                  *df.COMPOSE_DIR.glob("*.sh")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_are_executable(script: Path) -> None:
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    shell = "sh" if script.read_text().startswith("#!/bin/sh") else "bash"
    run = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


def test_local_override_only_swaps_images_of_existing_services() -> None:
    base = df.compose()["services"]
    local = yaml.safe_load((df.COMPOSE_DIR / "compose.local.yaml").read_text())["services"]
    assert set(local) == {"kafka", "kafka-topics", "redis"}
    for name, svc in local.items():
        assert name in base and set(svc) == {"image"}, name
    # the stand-ins carry the same Kafka version as the official image they replace
    assert local["kafka"]["image"].split(":")[1] == base["kafka"]["image"].split(":")[1]


def test_every_dockerfile_takes_its_base_as_a_build_argument_and_pulls_no_frontend() -> None:
    for dockerfile in sorted(df.DOCKER.glob("Dockerfile.*")):
        if dockerfile.suffix == ".dockerignore":
            continue
        text = dockerfile.read_text()
        assert "# syntax=" not in text, f"{dockerfile.name}: a syntax line pulls a frontend image"
        froms = [rest for word, rest in df.dockerfile(dockerfile) if word == "FROM"]
        assert froms[0].startswith("${"), f"{dockerfile.name}: base image not a build argument"
        for word, rest in df.dockerfile(dockerfile):
            if word == "RUN" and "pip " in rest and "--no-index" not in rest:
                assert "--mount=type=secret,id=build_ca" in rest, f"{dockerfile.name}: pip without CA"


def test_every_fulcrum_image_has_the_promoted_bundle_at_slash_bundle() -> None:
    # compose and k8s pass `--bundle /bundle` to serve, ingest and features apply (the last one
    # runs on the training image): each image links /bundle to the bundles root's LATEST
    for name in ("Dockerfile.serve", "Dockerfile.train"):
        runs = " ".join(rest for word, rest in df.dockerfile(df.DOCKER / name) if word == "RUN")
        assert "ln -s /bundles/LATEST /bundle" in runs, name
