"""Offline validation of the Kubernetes manifests and the compose file (deploy/k8s, deploy/compose).

No kubectl or docker here: the files are read as data and checked for what a broken deploy would
get wrong — dangling references (volumes, claims, ConfigMap keys, services, images), probes on the
wrong port, an HPA aimed at nothing, a bad cron line, more consumers than partitions, storage that
the jobs handing data to each other do not share.
"""

from __future__ import annotations

import base64
import re
import tomllib
from collections import Counter

import pytest
import yaml

from tests import deploy_files as df


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
    assert (df.cron_errors(line) == []) is ok, df.cron_errors(line)


def test_every_k8s_document_is_an_object_with_api_version_kind_and_name() -> None:
    docs = df.k8s_docs()
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
    kustomization = yaml.safe_load((df.K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    present = {p.name for p in df.K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == present
    used = {df.image_name(c["image"]) for _, spec, _ in df.pod_specs() for c in df.containers(spec)}
    for entry in kustomization.get("images", []):
        assert entry["name"] in used, f"kustomization images: {entry['name']} is used by no container"


def test_server_probes_use_grpc_health_on_the_health_only_port() -> None:
    server = df.by_kind("Deployment")["fulcrum-server"]
    (container,) = server["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # kubelet's native gRPC probes cannot speak TLS: they use the plaintext health-only listener
    health_port = ports["health"]
    config = yaml.safe_load(df.by_kind("ConfigMap")["fulcrum-config"]["data"]["serve.yaml"])
    assert config["security"]["health_port"] == health_port != ports["grpc"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert probe in container, probe
        # Native gRPC probes: grpc.health.v1.Health/Check on a numeric port (names are not allowed).
        assert set(container[probe]) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert container[probe]["grpc"]["port"] == health_port, probe
    # The entrypoint the brief fixes, and the server's config port (if the file says one) agrees.
    assert container["command"] == df.SERVE_ARGV
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/fulcrum"]["readOnly"] and mounts["/bundles"]["readOnly"]
    assert container["resources"]["requests"]["cpu"], "the HPA's CPU target needs a CPU request"


def test_selectors_match_their_pods_and_services_reach_named_ports() -> None:
    deployments = df.by_kind("Deployment")
    for name, dep in deployments.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    server_pod = deployments["fulcrum-server"]["spec"]["template"]
    port_names = {p["name"] for c in server_pod["spec"]["containers"] for p in c["ports"]}
    services = df.by_kind("Service")
    assert services, "no Service"
    for name, svc in services.items():
        assert svc["spec"]["selector"].items() <= server_pod["metadata"]["labels"].items(), name
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"Service {name}: unknown port {port['targetPort']}"
    assert services["fulcrum-server-pods"]["spec"]["clusterIP"] == "None"  # per-pod DNS for fan-out
    for pdb in df.by_kind("PodDisruptionBudget").values():
        assert pdb["spec"]["selector"]["matchLabels"].items() <= server_pod["metadata"]["labels"].items()


def test_bundles_root_is_mounted_at_one_path_and_bundle_is_its_latest() -> None:
    """Export and retrain publish <root>/<version>/ and move <root>/LATEST; a ReloadModel names a
    path, so every container must see the bundles root at the same place (/bundles), and the
    serving image's fixed --bundle /bundle is a symlink to the promoted one."""
    from offline.export.publish import LATEST

    run_lines = [rest for word, rest in df.dockerfile(df.DOCKER / "Dockerfile.serve") if word == "RUN"]
    assert any(f"ln -s /bundles/{LATEST} /bundle" in line for line in run_lines)
    for owner, spec, _ in df.pod_specs():
        claims = {v["name"] for v in spec.get("volumes", [])
                  if v.get("persistentVolumeClaim", {}).get("claimName") == "fulcrum-bundles"}
        for c in df.containers(spec):
            paths = {m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in claims}
            assert paths <= {"/bundles"}, owner
            writes = [m for m in c.get("volumeMounts", []) if m["name"] in claims and not m.get("readOnly")]
            assert not writes or owner == "fulcrum-retrain", f"{owner} may write bundles"
    for name, svc in df.compose()["services"].items():
        for spec in svc.get("volumes", []):
            if spec.split(":")[0] == "bundles":
                assert spec.split(":")[1] == "/bundles", name
                assert spec.endswith(":ro") or name in ("retrain", "seed-bundle"), name


def test_data_flows_through_shared_storage_between_the_jobs() -> None:
    """What ingestion appends is what retraining reads; what data prepare writes is what
    features apply and retraining read — on the same claim (k8s) or named volume (compose)."""
    containers = {}
    for owner, spec, _ in df.pod_specs():
        for c in df.containers(spec):
            argv = c.get("command", []) + c.get("args", [])
            if argv[:1] == ["fulcrum"]:
                containers[(owner, c["name"])] = (spec, c, df.options(argv))
    ingest = containers[("fulcrum-ingest", "ingest")]
    retrain = containers[("fulcrum-retrain", "retrain")]
    prepare = containers[("fulcrum-retrain", "prepare-data")]
    features = containers[("fulcrum-features-apply", "features-apply")]
    features_prepare = containers[("fulcrum-features-apply", "prepare-data")]

    def where(entry: tuple, option: str) -> tuple[str, str]:
        spec, c, options = entry
        return df.k8s_storage(spec, c, options[option])

    assert where(ingest, "--offline-dir") == where(retrain, "--offline-dir")
    assert where(prepare, "--out") == where(retrain, "--data") == where(features, "--data")
    assert where(features_prepare, "--out") == where(features, "--data")

    services = df.compose()["services"]

    def compose_where(name: str, option: str) -> str:
        svc = services[name]
        path = df.options(svc["command"])[option]
        best = max((v.split(":")[:2] for v in svc["volumes"] if path.startswith(v.split(":")[1])),
                   key=lambda sv: len(sv[1]))
        return best[0] + ":" + path[len(best[1]):]

    assert compose_where("ingest", "--offline-dir") == compose_where("retrain", "--offline-dir")
    assert compose_where("prepare-data", "--out") == compose_where("retrain", "--data")
    assert compose_where("prepare-data", "--out") == compose_where("features-apply", "--data")


def test_hpa_targets_the_server_deployment_on_cpu() -> None:
    (hpa,) = df.by_kind("HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment" and target["apiVersion"] == "apps/v1"
    assert target["name"] in df.by_kind("Deployment")
    assert target["name"] == "fulcrum-server"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def test_retrain_cronjob_is_valid_and_never_overlaps() -> None:
    cronjobs = df.by_kind("CronJob")
    assert set(cronjobs) == {"fulcrum-retrain"}
    spec = cronjobs["fulcrum-retrain"]["spec"]
    assert df.cron_errors(spec["schedule"]) == []
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    (container,) = pod["containers"]
    assert df.image_name(container["image"]) == df.TRAIN_IMAGE
    argv = container["command"] + container["args"]
    assert argv[:2] == ["fulcrum", "retrain"]
    options = df.options(argv)
    # Reload every replica: the headless Service resolves to one address per ready server pod.
    host, port = options["--server"].rsplit(":", 1)
    headless = df.by_kind("Service")[host]
    assert headless["spec"]["clusterIP"] == "None"
    assert int(port) in {p["port"] for p in headless["spec"]["ports"]}
    # Promotion writes the bundles root that the servers read at the same path.
    assert options["--out"] == "/bundles"
    rules = spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert any(r["action"] == "FailJob" and 3 in r["onExitCodes"]["values"] for r in rules)  # refused


def _events_partitions(script: str) -> int:
    match = re.search(r"--topic\s+events\s+--partitions\s+(\d+)", script)
    assert match, "no `--topic events --partitions N` in the topic-creation command"
    return int(match.group(1))


def test_ingest_replicas_do_not_exceed_partitions() -> None:
    job = df.by_kind("Job")["fulcrum-kafka-topics"]
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    partitions = _events_partitions(script)
    ingest = df.by_kind("Deployment")["fulcrum-ingest"]
    assert 1 <= ingest["spec"]["replicas"] <= partitions
    compose_script = " ".join(df.compose()["services"]["kafka-topics"]["command"])
    compose_partitions = _events_partitions(compose_script)
    replicas = df.compose()["services"]["ingest"].get("deploy", {}).get("replicas", 1)
    assert replicas <= compose_partitions


def test_topic_jobs_create_the_consumers_dead_letter_topic() -> None:
    from online.ingest.consumer_config import ConsumerConfig

    dlq = ConsumerConfig(bootstrap="kafka:9092", topic="events").dead_letter_topic
    job = df.by_kind("Job")["fulcrum-kafka-topics"]
    scripts = {"k8s": " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"]),
               "compose": " ".join(df.compose()["services"]["kafka-topics"]["command"])}
    for where, script in scripts.items():
        created = re.findall(r"--create\s+--if-not-exists\s+--topic\s+(\S+)", script)
        assert created == ["events", dlq], where


def test_pods_reference_only_defined_volumes_claims_and_config() -> None:
    claims = set(df.by_kind("PersistentVolumeClaim"))
    configmaps = df.by_kind("ConfigMap")
    for owner, spec, _ in df.pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims, owner
            if "configMap" in v:
                cm = configmaps[v["configMap"]["name"]]
                for item in v["configMap"].get("items", []):
                    assert item["key"] in cm["data"], f"{owner}: no key {item['key']}"
        for c in df.containers(spec):
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
    for owner, spec, _ in df.pod_specs():
        images = {df.image_name(c["image"]) for c in df.containers(spec)}
        if images & {df.SERVE_IMAGE, df.INGEST_IMAGE, df.TRAIN_IMAGE}:
            ctx = spec["securityContext"]
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 10001, owner


def test_images_are_consistent_across_k8s_and_compose() -> None:
    pom = (df.ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    expected = {("fulcrum-server", "server"): df.SERVE_IMAGE, ("fulcrum-ingest", "ingest"): df.INGEST_IMAGE,
                ("fulcrum-features-apply", "prepare-data"): df.TRAIN_IMAGE,  # the vendored dataset
                # batch features are offline/ code: the serving images leave it out
                ("fulcrum-features-apply", "features-apply"): df.TRAIN_IMAGE,
                ("fulcrum-retrain", "prepare-data"): df.TRAIN_IMAGE,
                ("fulcrum-retrain", "retrain"): df.TRAIN_IMAGE,
                ("fulcrum-kafka-topics", "topics"): "apache/kafka"}
    k8s_tags: dict[str, set[str]] = {}
    seen = set()
    for owner, spec, _ in df.pod_specs():
        for container in df.containers(spec):
            seen.add((owner, container["name"]))
            assert df.image_name(container["image"]) == expected[(owner, container["name"])], owner
            name, tag = df.image_name(container["image"]), df.image_tag(container["image"])
            k8s_tags.setdefault(name, set()).add(tag)
    assert seen == set(expected)
    assert k8s_tags["apache/kafka"] == {kafka_version}
    project_version = tomllib.loads((df.ROOT / "pyproject.toml").read_text())["project"]["version"]
    for image in (df.SERVE_IMAGE, df.INGEST_IMAGE, df.TRAIN_IMAGE):
        assert k8s_tags[image] == {project_version}, image

    services = df.compose()["services"]
    serve, train = df.SERVE_IMAGE, df.TRAIN_IMAGE
    compose_expected = {"server": serve, "ingest": df.INGEST_IMAGE, "features-apply": train,
                        "seed-bundle": serve, "prepare-data": train, "retrain": train,
                        "kafka": "apache/kafka", "kafka-topics": "apache/kafka", "redis": "redis"}
    assert set(services) == set(compose_expected)
    for name, image in compose_expected.items():
        assert df.image_name(services[name]["image"]) == image, name
    assert df.image_tag(services["kafka"]["image"]) == kafka_version
    assert df.image_tag(services["kafka-topics"]["image"]) == kafka_version
    dockerfiles = {df.SERVE_IMAGE: "deploy/docker/Dockerfile.serve",
                   df.INGEST_IMAGE: "deploy/docker/Dockerfile.serve",
                   df.TRAIN_IMAGE: "deploy/docker/Dockerfile.train"}
    for name, svc in services.items():
        if "build" in svc:
            assert svc["build"]["dockerfile"] == dockerfiles[df.image_name(svc["image"])], name
            assert (df.COMPOSE_DIR / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file(), name


def test_compose_references_only_defined_volumes_networks_and_services() -> None:
    compose = df.compose()
    services, volumes, networks = compose["services"], compose.get("volumes", {}), compose.get("networks", {})
    used_volumes = set()
    for name, svc in services.items():
        for spec in svc.get("volumes", []):
            source = spec.split(":", 1)[0]
            if source.startswith((".", "/", "$")):
                if "$" not in source:  # a bind mount of a file in the repository
                    assert (df.COMPOSE_DIR / source).exists(), f"{name}: bind source {source} missing"
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
    env = df.compose()["services"]["kafka"]["environment"]
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
    # `kafka-storage format` accepts only a 16-byte UUID in URL-safe base64 without padding.
    cluster_id = env["CLUSTER_ID"]
    assert len(cluster_id) == 22 and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
