"""The deployment's security settings, read as data: TLS and tokens from Secrets, nothing secret
in a ConfigMap, NetworkPolicies around the server, loopback-only compose ports, read-only root
file systems and no service-account tokens."""

from __future__ import annotations

import re

import yaml

from online.config import build_config
from online.security.transport import check_security
from tests import deploy_files as df

FULCRUM_IMAGES = {df.SERVE_IMAGE, df.TRAIN_IMAGE}


def test_the_deploy_serve_yaml_is_tls_with_tokens_and_no_reflection():
    config = build_config(
        yaml.safe_load(df.by_kind("ConfigMap")["fulcrum-config"]["data"]["serve.yaml"]), env={}
    )
    sec = config.security
    check_security(sec, config.host)  # the start-up rules: TLS configured, nothing contradictory
    assert sec.tls and not sec.allow_plaintext and not sec.allow_unauthenticated
    assert sec.tokens_file is not None and not sec.tokens  # digests from a Secret, not the ConfigMap
    assert sec.reflection is False and not sec.reflection_on
    assert str(config.bundles_root) == "/bundles"


def test_credentials_come_from_secrets_never_a_configmap():
    secret_words = re.compile(r"BEGIN [A-Z ]*PRIVATE KEY|password|passwd|sha256:\s*[0-9a-f]{64}", re.I)
    for name, cm in df.by_kind("ConfigMap").items():
        for key, value in cm["data"].items():
            assert not secret_words.search(value), f"ConfigMap {name}/{key} holds a credential"
    server = df.by_kind("Deployment")["fulcrum-server"]["spec"]["template"]["spec"]
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in server["volumes"] if "secret" in v}
    assert set(secret_volumes.values()) == {"fulcrum-server-tls", "fulcrum-server-auth"}
    mounts = {m["mountPath"]: m for m in server["containers"][0]["volumeMounts"]}
    config = yaml.safe_load(df.by_kind("ConfigMap")["fulcrum-config"]["data"]["serve.yaml"])["security"]
    for field in ("tls_cert_file", "tls_key_file", "tokens_file"):
        folder = config[field].rsplit("/", 1)[0]
        assert mounts[folder]["name"] in secret_volumes and mounts[folder]["readOnly"], field


def test_every_pod_runs_without_a_service_account_token_and_fulcrum_roots_are_read_only():
    for owner, spec, _ in df.pod_specs():
        assert spec.get("automountServiceAccountToken") is False, owner
        for c in df.containers(spec):
            if df.image_name(c["image"]) in FULCRUM_IMAGES:
                ctx = c.get("securityContext", {})
                assert ctx.get("readOnlyRootFilesystem") is True, f"{owner}/{c['name']}"
                assert ctx.get("allowPrivilegeEscalation") is False, f"{owner}/{c['name']}"
                assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}, f"{owner}/{c['name']}"


def test_network_policies_close_the_server_to_unlabelled_pods():
    policies = df.by_kind("NetworkPolicy")
    deny = policies["fulcrum-default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    server = policies["fulcrum-server"]["spec"]
    by_port = {}
    for rule in server["ingress"]:
        for port in rule["ports"]:
            by_port[port["port"]] = rule.get("from")
    assert set(by_port) == {50051, 50052, 9464}
    api_from = by_port[50051]
    assert all("podSelector" in peer for peer in api_from)  # only labelled pods, never a whole namespace
    labels = [peer["podSelector"]["matchLabels"] for peer in api_from]
    assert {"fulcrum.io/client": "true"} in labels
    assert {"app.kubernetes.io/name": "fulcrum-retrain"} in labels
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert by_port[9464] == [monitoring]
    ingest = policies["fulcrum-ingest"]["spec"]
    assert [p["port"] for r in ingest["ingress"] for p in r["ports"]] == [9464]


def test_compose_publishes_on_loopback_only_and_mounts_the_credentials():
    compose = df.compose()
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping} is published on every interface"
    server = compose["services"]["server"]
    assert server["read_only"] is True
    targets = {v.rsplit(":", 2)[1] for v in server["volumes"]}  # SOURCE:TARGET:MODE, SOURCE may hold ':-'
    assert all(v.endswith(":ro") for v in server["volumes"] if "fulcrum-secrets" in v)
    assert {"/etc/fulcrum-secrets/tls/tls.crt", "/etc/fulcrum-secrets/tls/tls.key",
            "/etc/fulcrum-secrets/auth/tokens.yaml"} <= targets
    retrain = compose["services"]["retrain"]
    assert retrain["environment"]["FULCRUM_CLIENT_TOKEN_FILE"].startswith("/etc/fulcrum-secrets/")


def test_dead_letters_have_a_retention():
    """Rejected events hold user data too: the dead-letter topic keeps them 14 days, not forever."""
    job = df.by_kind("Job")["fulcrum-kafka-topics"]["spec"]["template"]["spec"]["containers"][0]
    compose = " ".join(df.compose()["services"]["kafka-topics"]["command"])
    for script in (" ".join(job["args"]), compose):
        dlq = script.split("--topic events.dlq", 1)[1].split("&&", 1)[0]
        assert "--config retention.ms=1209600000" in dlq  # 14 d x 86,400,000 ms
