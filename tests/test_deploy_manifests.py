"""Offline validation of deploy/: the Dockerfiles, the compose file and the Kubernetes manifests.

No docker or kubectl here: these tests read the files as data and check what a broken deploy
would get wrong — dangling references (volumes, claims, config maps, services, images), probes
on the wrong port, an HPA aimed at nothing, a bad cron line, commands that the `fulcrum` CLI
does not have, a serving image that drags torch in. The container health check script runs for
real against a gRPC health service on port 0.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import py_compile
import re
import shlex
import sys
import textwrap
import tomllib
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S = ROOT / "deploy" / "k8s"

# The `fulcrum` sub-commands deploy/ runs, with the options it passes them. The lead can check
# this list against fulcrum/cli.py; test_deploy_commands_are_real_cli_commands checks it for real.
DEPLOY_COMMANDS: dict[tuple[str, ...], set[str]] = {
    ("serve",): {"--bundle", "--config"},
    ("ingest",): {"--bootstrap", "--topic", "--feature-repo", "--feature-store", "--bundle", "--offline-dir",
                  "--metrics-port"},
    ("retrain",): set(),
    ("features", "apply"): set(),
}
# Commands whose owners have not registered them yet in this session: missing is an expected
# failure (xfail) rather than an error; once registered they are checked in full. Empty when done.
PENDING_COMMANDS: set[tuple[str, ...]] = {("serve",), ("ingest",), ("retrain",), ("features", "apply")}
SERVE_ARGV = ["fulcrum", "serve", "--bundle", "/bundle", "--config", "/etc/fulcrum/serve.yaml"]
SERVE_IMAGE, TRAIN_IMAGE = "fulcrum-serve", "fulcrum-train"
HEAVY_TRAINING_PACKAGES = {"torch", "transformers", "imbalanced-learn", "optuna", "implicit"}


# ---- loading ---------------------------------------------------------------------------------


def _k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _k8s_docs() if d["kind"] == kind}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def _pod_specs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(owner name, pod spec, pod template metadata) for every workload."""
    out = []
    for _, doc in _k8s_docs():
        kind, spec = doc["kind"], doc.get("spec", {})
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            template = spec["template"]
        elif kind == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
        else:
            continue
        out.append((doc["metadata"]["name"], template["spec"], template.get("metadata", {})))
    return out


def _image_name(ref: str) -> str:
    """`${REG:-}fulcrum-serve:${TAG:-latest}` or `registry/x/fulcrum-serve:1.0` -> `fulcrum-serve`."""
    ref = re.sub(r"\$\{[^}]*\}", "", ref)  # compose variables (registry prefix, tag)
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1] if ref.count("/") and not ref.startswith("apache/") else ref
    return last.rsplit(":", 1)[0] if ":" in last else last


def _image_tag(ref: str) -> str:
    return ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""


def _dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def _fulcrum_argvs() -> list[tuple[str, list[str]]]:
    """Every `fulcrum ...` command line that deploy/ runs, with where it comes from."""
    found: list[tuple[str, list[str]]] = []
    for name, spec, _ in _pod_specs():
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            argv = list(c.get("command", [])) + list(c.get("args", []))
            if argv and argv[0] == "fulcrum":
                found.append((f"k8s {name}/{c['name']}", argv[1:]))
    for name, svc in _compose()["services"].items():
        entry, cmd = svc.get("entrypoint"), svc.get("command")
        entry = shlex.split(entry) if isinstance(entry, str) else list(entry or [])
        cmd = shlex.split(cmd) if isinstance(cmd, str) else list(cmd or [])
        image = _image_name(svc.get("image", ""))
        if entry == ["fulcrum"]:
            found.append((f"compose {name}", cmd))
        elif not entry and image == TRAIN_IMAGE:  # the training image's ENTRYPOINT is ["fulcrum"]
            found.append((f"compose {name}", cmd))
    for dockerfile in ("Dockerfile.serve", "Dockerfile.train"):
        for word, rest in _dockerfile(DOCKER / dockerfile):
            if word == "ENTRYPOINT":
                argv = yaml.safe_load(rest)
                if argv[0] == "fulcrum" and len(argv) > 1:
                    found.append((dockerfile, argv[1:]))
    return found


def _subcommand(argv: list[str]) -> tuple[str, ...]:
    """The sub-command path of an argv: leading words that are not options or their values."""
    for path in sorted(DEPLOY_COMMANDS, key=len, reverse=True):
        if tuple(argv[: len(path)]) == path:
            return path
    return tuple(argv[:1])


# ---- a cron line, checked the way the CronJob controller reads it ----------------------------

_CRON_FIELDS = [  # (name, low, high, names)
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}),
    ("day of week", 0, 7, {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}),
]


def cron_errors(line: str) -> list[str]:
    """Why a 5-field cron line is invalid (empty list: valid)."""
    fields = line.split()
    if len(fields) != 5:
        return [f"expected 5 fields, got {len(fields)}"]
    errors = []
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):

        def value(token: str, name: str = name, low: int = low, high: int = high,
                  names: dict[str, int] = names) -> int | None:
            v = names.get(token.upper()) if not token.isdigit() else int(token)
            if v is None or not low <= v <= high:
                errors.append(f"{name}: {token!r} not in {low}-{high}")
                return None
            return v

        for item in text.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) < 1):
                errors.append(f"{name}: bad step {step!r}")
            if base == "*":
                continue
            first, dash, last = base.partition("-")
            a = value(first)
            b = value(last) if dash else a
            if a is not None and b is not None and a > b:
                errors.append(f"{name}: range {base!r} runs backwards")
    return errors


@pytest.mark.parametrize(
    "line, ok",
    [
        ("30 3 * * *", True),  # 03:30 every day
        ("*/15 8-18 * * MON-FRI", True),  # every quarter hour in office hours on weekdays
        ("0 0 1,15 JAN,jul 0", True),  # names are case-insensitive; 0 and 7 are both Sunday
        ("0 0 * * 7", True),
        ("60 * * * *", False),  # minute 60 does not exist
        ("0 24 * * *", False),  # nor hour 24
        ("0 0 0 * *", False),  # days of month start at 1
        ("0 0 * 13 *", False),
        ("5-1 * * * *", False),  # backwards range
        ("*/0 * * * *", False),  # zero step
        ("* * * *", False),  # four fields
        ("@daily", False),  # macros are not the 5-field form
    ],
)
def test_cron_validator(line: str, ok: bool) -> None:
    assert (cron_errors(line) == []) is ok, cron_errors(line)


# ---- Kubernetes ------------------------------------------------------------------------------


def test_every_k8s_document_is_an_object_with_api_version_kind_and_name() -> None:
    docs = _k8s_docs()
    assert len(docs) >= 10
    for filename, doc in docs:
        assert isinstance(doc, dict), filename
        assert doc.get("apiVersion"), f"{filename}: no apiVersion"
        assert doc.get("kind"), f"{filename}: no kind"
        assert doc.get("metadata", {}).get("name"), f"{filename}: {doc.get('kind')} without metadata.name"
    keys = Counter((d["kind"], d["metadata"]["name"]) for _, d in docs)
    assert [k for k, n in keys.items() if n > 1] == [], "duplicate kind/name"
    kinds = {d["kind"] for _, d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap", "CronJob",
            "PersistentVolumeClaim"} <= kinds


def test_kustomization_lists_exactly_the_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == present
    used = {_image_name(c["image"]) for _, spec, _ in _pod_specs() for c in spec["containers"]}
    for entry in kustomization.get("images", []):
        assert entry["name"] in used, f"kustomization images: {entry['name']} is used by no container"


def test_server_probes_use_grpc_health_on_the_container_port() -> None:
    server = _by_kind("Deployment")["fulcrum-server"]
    (container,) = server["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    grpc_port = ports["grpc"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert probe in container, probe
        # Native gRPC probes: grpc.health.v1.Health/Check on a numeric port (names are not allowed).
        assert set(container[probe]) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert container[probe]["grpc"]["port"] == grpc_port, probe
    # The entrypoint the brief fixes, and the server's config port (if the file says one) agrees.
    assert container["command"] == SERVE_ARGV
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/fulcrum"]["readOnly"] and mounts["/bundles"]["readOnly"]
    assert container["resources"]["requests"]["cpu"], "the HPA's CPU target needs a CPU request"


def test_selectors_match_their_pods_and_services_reach_named_ports() -> None:
    deployments = _by_kind("Deployment")
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    server_pod = deployments["fulcrum-server"]["spec"]["template"]
    port_names = {p["name"] for c in server_pod["spec"]["containers"] for p in c["ports"]}
    services = _by_kind("Service")
    assert services, "no Service"
    for name, svc in services.items():
        assert svc["spec"]["selector"].items() <= server_pod["metadata"]["labels"].items(), name
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"Service {name}: unknown port {port['targetPort']}"
    assert services["fulcrum-server-pods"]["spec"]["clusterIP"] == "None"  # per-pod DNS for fan-out
    for pdb in _by_kind("PodDisruptionBudget").values():
        assert pdb["spec"]["selector"]["matchLabels"].items() <= server_pod["metadata"]["labels"].items()


def test_bundles_root_is_mounted_at_one_path_and_bundle_is_its_latest() -> None:
    """Export and retrain publish <root>/<version>/ and move <root>/LATEST; a ReloadModel names a
    path, so every container must see the bundles root at the same place (/bundles), and the
    serving image's fixed --bundle /bundle is a symlink to the promoted one."""
    from offline.export.bundle import LATEST

    run_lines = [rest for word, rest in _dockerfile(DOCKER / "Dockerfile.serve") if word == "RUN"]
    assert any(f"ln -s /bundles/{LATEST} /bundle" in line for line in run_lines)
    for owner, spec, _ in _pod_specs():
        claims = {v["name"] for v in spec.get("volumes", [])
                  if v.get("persistentVolumeClaim", {}).get("claimName") == "fulcrum-bundles"}
        for c in spec["containers"]:
            paths = {m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in claims}
            assert paths <= {"/bundles"}, owner
            writes = [m for m in c.get("volumeMounts", []) if m["name"] in claims and not m.get("readOnly")]
            assert not writes or owner == "fulcrum-retrain", f"{owner} may write bundles"
    for name, svc in _compose()["services"].items():
        for spec in svc.get("volumes", []):
            if spec.split(":")[0] == "bundles":
                assert spec.split(":")[1] == "/bundles", name
                assert spec.endswith(":ro") or name in ("retrain", "seed-bundle"), name


def test_hpa_targets_the_server_deployment_on_cpu() -> None:
    (hpa,) = _by_kind("HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment" and target["apiVersion"] == "apps/v1"
    assert target["name"] in _by_kind("Deployment")
    assert target["name"] == "fulcrum-server"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def test_retrain_cronjob_is_valid_and_never_overlaps() -> None:
    cronjobs = _by_kind("CronJob")
    assert set(cronjobs) == {"fulcrum-retrain"}
    spec = cronjobs["fulcrum-retrain"]["spec"]
    assert cron_errors(spec["schedule"]) == []
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    assert _image_name(container["image"]) == TRAIN_IMAGE
    assert container["command"] + container["args"] == ["fulcrum", "retrain"]


def _events_partitions(script: str) -> int:
    match = re.search(r"--topic\s+events\s+--partitions\s+(\d+)", script)
    assert match, "no `--topic events --partitions N` in the topic-creation command"
    return int(match.group(1))


def test_ingest_replicas_do_not_exceed_partitions() -> None:
    job = _by_kind("Job")["fulcrum-kafka-topics"]
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    partitions = _events_partitions(script)
    ingest = _by_kind("Deployment")["fulcrum-ingest"]
    assert 1 <= ingest["spec"]["replicas"] <= partitions
    compose_script = " ".join(_compose()["services"]["kafka-topics"]["command"])
    compose_partitions = _events_partitions(compose_script)
    replicas = _compose()["services"]["ingest"].get("deploy", {}).get("replicas", 1)
    assert replicas <= compose_partitions


def test_topic_jobs_create_the_consumers_dead_letter_topic() -> None:
    from online.ingest.consumer import ConsumerConfig

    dlq = ConsumerConfig(bootstrap="kafka:9092", topic="events").dead_letter_topic
    job = _by_kind("Job")["fulcrum-kafka-topics"]
    scripts = {"k8s": " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"]),
               "compose": " ".join(_compose()["services"]["kafka-topics"]["command"])}
    for where, script in scripts.items():
        created = re.findall(r"--create\s+--if-not-exists\s+--topic\s+(\S+)", script)
        assert created == ["events", dlq], where


def test_pods_reference_only_defined_volumes_claims_and_config() -> None:
    claims = set(_by_kind("PersistentVolumeClaim"))
    configmaps = _by_kind("ConfigMap")
    for owner, spec, _ in _pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims, owner
            if "configMap" in v:
                cm = configmaps[v["configMap"]["name"]]
                for item in v["configMap"].get("items", []):
                    assert item["key"] in cm["data"], f"{owner}: no key {item['key']}"
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes, f"{owner}/{c['name']}: mount of undefined volume {m['name']}"
                source = volumes[m["name"]].get("configMap")
                if source and "subPath" in m:
                    data = configmaps[source["name"]]["data"]
                    assert m["subPath"] in data, f"{owner}: subPath {m['subPath']}"
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in configmaps[ref["name"]]["data"], f"{owner}: env {env['name']}"
            defined = {e["name"] for e in c.get("env", [])}
            for source in c.get("envFrom", []):
                cm = configmaps[source["configMapRef"]["name"]]
                defined |= {k for k in cm["data"] if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)}
            # $(VAR) in command/args expands only from the container's own environment.
            for arg in c.get("args", []) + c.get("command", []):
                for var in re.findall(r"\$\(([A-Z_][A-Z0-9_]*)\)", arg):
                    assert var in defined, f"{owner}/{c['name']}: $({var}) is not in env"


def test_pods_run_as_the_images_non_root_user() -> None:
    for owner, spec, _ in _pod_specs():
        images = {_image_name(c["image"]) for c in spec["containers"]}
        if images & {SERVE_IMAGE, TRAIN_IMAGE}:
            ctx = spec["securityContext"]
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 10001, owner


# ---- images: the same names and versions everywhere -------------------------------------------


def test_images_are_consistent_across_k8s_and_compose() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    expected = {"fulcrum-server": SERVE_IMAGE, "fulcrum-ingest": SERVE_IMAGE,
                "fulcrum-features-apply": SERVE_IMAGE, "fulcrum-retrain": TRAIN_IMAGE,
                "fulcrum-kafka-topics": "apache/kafka"}
    k8s_tags = {}
    for owner, spec, _ in _pod_specs():
        (container,) = spec["containers"]
        assert _image_name(container["image"]) == expected[owner], owner
        k8s_tags.setdefault(_image_name(container["image"]), set()).add(_image_tag(container["image"]))
    assert k8s_tags["apache/kafka"] == {kafka_version}
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert k8s_tags[SERVE_IMAGE] == k8s_tags[TRAIN_IMAGE] == {project_version}

    services = _compose()["services"]
    compose_expected = {"server": SERVE_IMAGE, "ingest": SERVE_IMAGE, "features-apply": SERVE_IMAGE,
                        "seed-bundle": SERVE_IMAGE, "retrain": TRAIN_IMAGE, "kafka": "apache/kafka",
                        "kafka-topics": "apache/kafka", "redis": "redis"}
    assert set(services) == set(compose_expected)
    for name, image in compose_expected.items():
        assert _image_name(services[name]["image"]) == image, name
    assert _image_tag(services["kafka"]["image"]) == kafka_version
    assert _image_tag(services["kafka-topics"]["image"]) == kafka_version
    dockerfiles = {SERVE_IMAGE: "deploy/docker/Dockerfile.serve",
                   TRAIN_IMAGE: "deploy/docker/Dockerfile.train"}
    for name, svc in services.items():
        if "build" in svc:
            assert svc["build"]["dockerfile"] == dockerfiles[_image_name(svc["image"])], name
            assert (COMPOSE_DIR / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file(), name


# ---- compose ---------------------------------------------------------------------------------


def test_compose_references_only_defined_volumes_networks_and_services() -> None:
    compose = _compose()
    services, volumes, networks = compose["services"], compose.get("volumes", {}), compose.get("networks", {})
    used_volumes = set()
    for name, svc in services.items():
        for spec in svc.get("volumes", []):
            source = spec.split(":", 1)[0]
            if source.startswith((".", "/", "$")):
                if "$" not in source:  # a bind mount of a file in the repository
                    assert (COMPOSE_DIR / source).exists(), f"{name}: bind source {source} missing"
            else:
                assert source in volumes, f"{name}: undefined volume {source}"
                used_volumes.add(source)
        for net in svc.get("networks", []):
            assert net in networks, f"{name}: undefined network {net}"
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on undefined service {dep}"
            condition = cond["condition"]
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health: it has no check"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep}: waited on to finish, restarts"
            # A service always started must not wait on one that only runs in a profile.
            if not svc.get("profiles"):
                assert not services[dep].get("profiles"), f"{name} depends on profiled {dep}"
    assert used_volumes == set(volumes), f"unused volumes: {set(volumes) - used_volumes}"
    assert services["retrain"]["profiles"] == ["jobs"]
    for name in ("kafka", "redis", "server"):
        assert services[name]["healthcheck"]["test"], name
    assert services["ingest"]["command"][:5] == ["ingest", "--bootstrap", "kafka:9092", "--topic", "events"]


def test_compose_kafka_is_a_single_kraft_node_reachable_as_kafka_9092() -> None:
    env = _compose()["services"]["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert int(node) == env["KAFKA_NODE_ID"]
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    assert voter == f"kafka{listeners[env['KAFKA_CONTROLLER_LISTENER_NAMES']]}"
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == "kafka:9092"
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1  # a single broker


# ---- config files and environment -------------------------------------------------------------


def _serve_yaml_texts() -> dict[str, str]:
    return {"k8s": _by_kind("ConfigMap")["fulcrum-config"]["data"]["serve.yaml"],
            "compose": (COMPOSE_DIR / "config" / "serve.yaml").read_text()}


def test_serve_yaml_is_a_valid_server_config_matching_the_ports() -> None:
    from online.config import build_config

    texts = _serve_yaml_texts()
    assert yaml.safe_load(texts["k8s"]) == yaml.safe_load(texts["compose"])
    # Validated by the server's own config model, with no environment overrides.
    config = build_config(yaml.safe_load(texts["k8s"]), env={}, source="deploy serve.yaml")
    server = _by_kind("Deployment")["fulcrum-server"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert (config.port, config.metrics_port) == (ports["grpc"], ports["metrics"])
    # ONNX Runtime's threads fit in the pod's CPU limit (0 would take every core of the node).
    assert 1 <= config.intra_op_threads <= float(server["resources"]["limits"]["cpu"])
    # Kubernetes and compose wait longer than the server's own drain before killing it.
    pod = _by_kind("Deployment")["fulcrum-server"]["spec"]["template"]["spec"]
    pre_stop = server["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + config.grace_s
    compose_server = _compose()["services"]["server"]
    assert int(compose_server["stop_grace_period"].removesuffix("s")) > config.grace_s
    targets = {int(str(m).rsplit(":", 1)[1]) for m in compose_server["ports"]}
    assert targets == {config.port, config.metrics_port}
    assert f"127.0.0.1:{config.port}" in " ".join(compose_server["healthcheck"]["test"])
    # The Feast repo the config names is where the serving image puts it.
    instructions = _dockerfile(DOCKER / "Dockerfile.serve")
    workdir = [rest for word, rest in instructions if word == "WORKDIR"][-1]
    copies = [rest.split()[-2:] for word, rest in instructions if word == "COPY"]
    assert ["feature_repo", "./feature_repo"] in copies and workdir == "/app"
    assert str(config.feature_repo) == "/app/feature_repo"
    exposed = {int(p) for word, rest in instructions if word == "EXPOSE" for p in rest.split()}
    assert exposed == {config.port, config.metrics_port}


def _k8s_env() -> dict[str, str]:
    return _by_kind("ConfigMap")["fulcrum-env"]["data"]


@pytest.mark.slow  # importing feast costs about 11 s of CPU
def test_redis_settings_agree_and_validate_through_feast() -> None:
    from online.features import store

    env = _k8s_env()
    compose_env = _compose()["x-fulcrum-env"]
    for values in (env, compose_env):
        assert values[store.ENV_STORE] in store.STORES and values[store.ENV_STORE] == "redis"
        # The Feast CLI's connection string and fulcrum's URL name the same Redis.
        assert store.redis_connection_string(values[store.ENV_REDIS_URL]) == values[store.ENV_FEAST_REDIS]
    ours = yaml.safe_load(_by_kind("ConfigMap")["fulcrum-config"]["data"][store.CONFIG_FILES["redis"]])
    repo = yaml.safe_load((ROOT / "feature_repo" / store.CONFIG_FILES["redis"]).read_text())
    # A tunable copy of the repo's Redis config: the same project, registry and offline store.
    for key in ("project", "provider", "registry", "offline_store", "entity_key_serialization_version"):
        assert ours[key] == repo[key], key
    placeholder = "${" + store.ENV_FEAST_REDIS + "}"
    assert ours["online_store"]["connection_string"] == placeholder
    from feast.repo_config import RepoConfig

    text = _by_kind("ConfigMap")["fulcrum-config"]["data"][store.CONFIG_FILES["redis"]]
    expanded = yaml.safe_load(text.replace(placeholder, env[store.ENV_FEAST_REDIS]))
    config = RepoConfig(repo_path=ROOT / "feature_repo", **expanded)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis:6379"
    # The Redis Cluster variant docs/scaling.md tells operators to put in the ConfigMap.
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    (snippet,) = [block for block in re.findall(r"```yaml\n(.*?)```", scaling, flags=re.S)
                  if "for Redis Cluster" in block]
    cluster_yaml = yaml.safe_load(textwrap.dedent(snippet))
    for key in ("project", "provider", "registry", "offline_store", "entity_key_serialization_version"):
        assert cluster_yaml[key] == repo[key], key
    cluster = RepoConfig(repo_path=ROOT / "feature_repo", **cluster_yaml)
    assert cluster.online_store.redis_type.value == "redis_cluster"


def _known_env_vars() -> set[str]:
    from online.config import env_var_names
    from online.features import store

    read_elsewhere = {"FULCRUM_LOG_LEVEL", store.ENV_STORE, store.ENV_REDIS_URL, store.ENV_FEAST_REDIS}
    return set(env_var_names()) | read_elsewhere


def test_every_fulcrum_variable_deploy_sets_is_one_the_code_reads() -> None:
    known = _known_env_vars()
    set_here = set(_k8s_env()) | set(_compose()["x-fulcrum-env"])
    for _, spec, _ in _pod_specs():
        for c in spec["containers"]:
            set_here |= {e["name"] for e in c.get("env", [])}
    for word, rest in _dockerfile(DOCKER / "Dockerfile.serve") + _dockerfile(DOCKER / "Dockerfile.train"):
        if word == "ENV":
            set_here |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", rest))
    fulcrum_vars = {v for v in set_here if v.startswith("FULCRUM_")}
    assert fulcrum_vars and fulcrum_vars <= known, sorted(fulcrum_vars - known)
    healthcheck = (DOCKER / "healthcheck.py").read_text()
    assert "FULCRUM_PORT" in healthcheck and "FULCRUM_PORT" in known


# ---- the commands deploy/ runs exist in the CLI --------------------------------------------------


def test_deploy_runs_exactly_the_listed_fulcrum_commands() -> None:
    argvs = _fulcrum_argvs()
    used = {_subcommand(argv) for _, argv in argvs}
    assert used == set(DEPLOY_COMMANDS), [(where, argv) for where, argv in argvs]
    for where, argv in argvs:
        options = {a for a in argv if a.startswith("--")}
        assert options <= DEPLOY_COMMANDS[_subcommand(argv)], f"{where}: {argv}"


@pytest.mark.parametrize("path", sorted(DEPLOY_COMMANDS), ids=" ".join)
def test_deploy_commands_are_real_cli_commands(path: tuple[str, ...]) -> None:
    import typer

    from fulcrum.cli import app

    command = typer.main.get_command(app)
    for word in path:
        commands = getattr(command, "commands", {})
        if word not in commands and path in PENDING_COMMANDS:
            pytest.xfail(f"`fulcrum {' '.join(path)}` not registered yet")
        assert word in commands, f"`fulcrum {' '.join(path)}`: no `{word}` among {sorted(commands)}"
        command = commands[word]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert DEPLOY_COMMANDS[path] <= options, f"`fulcrum {' '.join(path)}` has options {sorted(options)}"


def _serve_closure() -> set[str]:
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = [Requirement(s) for s in project["dependencies"] + project["optional-dependencies"]["serve"]]
    return _closure(["fulcrum"] + [r.name for r in direct if r.marker is None or r.marker.evaluate()])


def test_cli_imports_from_the_serving_packages_alone(tmp_path: Path) -> None:
    """In the serving image only the serve extra is installed and there is no repository root on
    sys.path. `fulcrum.cli` imports every command's module, so importing it (as `fulcrum serve`
    and `fulcrum ingest` do) must load nothing from a distribution outside the serve extra."""
    import subprocess

    probe = (
        "import json, sys\n"
        "before = set(sys.modules)  # what the interpreter loaded at start-up (.pth hooks)\n"
        "import typer\n"
        "from fulcrum.cli import app\n"
        "names = sorted(typer.main.get_command(app).commands)\n"
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
    closure = _serve_closure()
    owners = metadata.packages_distributions()
    outside = {}
    for module in seen["modules"]:
        dists = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if dists and not dists & closure:
            outside[module] = sorted(dists)
    assert outside == {}, f"importing the CLI loads modules the serving image does not have: {outside}"


# ---- Dockerfiles -----------------------------------------------------------------------------


def _pip_installs(instructions: list[tuple[str, str]]) -> list[str]:
    return [rest for word, rest in instructions if word == "RUN" and re.search(r"\bpip\b", rest)]


def test_serving_image_never_installs_torch_or_the_train_extra() -> None:
    instructions = _dockerfile(DOCKER / "Dockerfile.serve")
    text = " ".join(rest for _, rest in instructions).lower()
    for banned in ("torch", "transformers", "[train", ",train", "train]"):
        assert banned not in text, banned
    installs = _pip_installs(instructions)
    assert installs
    for cmd in installs:
        extras = set(re.findall(r"\[([a-z,]+)\]", cmd))
        assert extras <= {"serve"}, cmd
    froms = [rest.split()[0] for word, rest in instructions if word == "FROM"]
    args = dict(rest.split("=", 1) for word, rest in instructions if word == "ARG" and "=" in rest)
    assert {args.get(f.strip("${}"), f) for f in froms} <= {"python:3.11-slim", "build"}


def _closure(requirement_names: list[str]) -> set[str]:
    """Installed distributions reachable from the given requirements (no extras of dependencies)."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(requirement_names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_the_serve_extra_does_not_pull_training_packages() -> None:
    """What `pip install '.[serve]'` resolves to, computed from the installed packages' metadata."""
    closure = _serve_closure()
    assert {"grpcio", "feast", "kafka-python"} <= closure
    assert closure & HEAVY_TRAINING_PACKAGES == set()


def test_serving_image_user_entrypoint_and_healthcheck() -> None:
    instructions = _dockerfile(DOCKER / "Dockerfile.serve")
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == SERVE_ARGV
    (health,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "/app/healthcheck.py" in health
    copies = [rest for word, rest in instructions if word == "COPY"]
    assert any("deploy/docker/healthcheck.py ./healthcheck.py" in c for c in copies)
    assert any(w == "WORKDIR" and r == "/app" for w, r in instructions)
    assert any("--mount=type=cache" in cmd for cmd in _pip_installs(instructions))


def test_training_image_installs_train_and_serve_extras() -> None:
    instructions = _dockerfile(DOCKER / "Dockerfile.train")
    installs = " ".join(_pip_installs(instructions))
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


def test_images_contain_every_python_package_the_project_installs() -> None:
    """`fulcrum.cli` imports every registered command's module: a package missing from an image
    breaks every command in it."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in find["include"]}
    assert {"fulcrum", "online", "offline"} <= packages
    for dockerfile in ("Dockerfile.serve", "Dockerfile.train"):
        copied = {rest.split()[-2] for word, rest in _dockerfile(DOCKER / dockerfile)
                  if word == "COPY" and "--from" not in rest}
        assert packages <= copied, f"{dockerfile} does not copy {sorted(packages - copied)}"
        ignore = [line.strip() for line in (DOCKER / f"{dockerfile}.dockerignore").read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
        for source in copied | {"pyproject.toml"}:
            assert _ignore_allows(ignore, source), f"{dockerfile}.dockerignore keeps out {source}"


def test_every_copied_path_exists_in_the_build_context() -> None:
    for dockerfile in ("Dockerfile.serve", "Dockerfile.train"):
        for word, rest in _dockerfile(DOCKER / dockerfile):
            if word == "COPY" and "--from" not in rest:
                sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
                for source in sources:
                    assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"


# ---- the health check script, for real -------------------------------------------------------


def _load_healthcheck() -> Any:
    spec = importlib.util.spec_from_file_location("fulcrum_deploy_healthcheck", DOCKER / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_compiles(tmp_path: Path) -> None:
    py_compile.compile(str(DOCKER / "healthcheck.py"), cfile=str(tmp_path / "h.pyc"), doraise=True)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
