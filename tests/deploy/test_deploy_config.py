"""The deployment's configuration against the code that reads it: serve.yaml through the server's
own config model, the Redis settings through Feast's, every FULCRUM_* variable set by deploy/
against those the code reads, and every `fulcrum ...` command line against the real CLI."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml

from tests import deploy_files as df


def _serve_yaml_texts() -> dict[str, str]:
    return {"k8s": df.by_kind("ConfigMap")["fulcrum-config"]["data"]["serve.yaml"],
            "compose": (df.COMPOSE_DIR / "config" / "serve.yaml").read_text()}


def test_serve_yaml_is_a_valid_server_config_matching_the_ports() -> None:
    from online.config import build_config

    texts = _serve_yaml_texts()
    assert yaml.safe_load(texts["k8s"]) == yaml.safe_load(texts["compose"])
    # Validated by the server's own config model, with no environment overrides.
    config = build_config(yaml.safe_load(texts["k8s"]), env={}, source="deploy serve.yaml")
    server = df.by_kind("Deployment")["fulcrum-server"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert (config.port, config.metrics_port) == (ports["grpc"], ports["metrics"])
    # ONNX Runtime's threads fit in the pod's CPU limit (0 would take every core of the node).
    assert 1 <= config.intra_op_threads <= float(server["resources"]["limits"]["cpu"])
    # Kubernetes and compose wait longer than the server's own drain before killing it.
    pod = df.by_kind("Deployment")["fulcrum-server"]["spec"]["template"]["spec"]
    pre_stop = server["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + config.grace_s
    compose_server = df.compose()["services"]["server"]
    assert int(compose_server["stop_grace_period"].removesuffix("s")) > config.grace_s
    targets = {int(str(m).rsplit(":", 1)[1]) for m in compose_server["ports"]}
    assert targets == {config.port, config.metrics_port}
    assert all(str(m).startswith("127.0.0.1:") for m in compose_server["ports"])  # loopback only
    assert f"127.0.0.1:{config.security.health_port}" in " ".join(compose_server["healthcheck"]["test"])
    # The Feast repo the config names is where the serving image puts it.
    instructions = df.dockerfile(df.DOCKER / "Dockerfile.serve")
    workdir = [rest for word, rest in instructions if word == "WORKDIR"][-1]
    copies = [rest.split()[-2:] for word, rest in instructions if word == "COPY"]
    assert ["feature_repo", "./feature_repo"] in copies and workdir == "/app"
    assert str(config.feature_repo) == "/app/feature_repo"
    exposed = {int(p) for word, rest in instructions if word == "EXPOSE" for p in rest.split()}
    assert exposed == {config.port, config.metrics_port, config.security.health_port}


@pytest.mark.slow  # importing feast costs about 11 s of CPU
def test_redis_settings_agree_and_validate_through_feast() -> None:
    from fulcrum.core import feature_store as store

    env = df.k8s_env()
    compose_env = df.compose()["x-fulcrum-env"]
    for values in (env, compose_env):
        assert values[store.ENV_STORE] in store.STORES and values[store.ENV_STORE] == "redis"
        # The Feast CLI's connection string and fulcrum's URL name the same Redis (same host:port,
        # and no setting of the former that fulcrum's translation of the URL would contradict).
        derived = store.redis_connection_string(values[store.ENV_REDIS_URL]).split(",")
        given = values[store.ENV_FEAST_REDIS].split(",")
        assert given[0] == derived[0] and set(given[1:]) <= set(derived[1:]), (given, derived)
    ours = yaml.safe_load(df.by_kind("ConfigMap")["fulcrum-config"]["data"][store.CONFIG_FILES["redis"]])
    repo = yaml.safe_load((df.ROOT / "feature_repo" / store.CONFIG_FILES["redis"]).read_text())
    # A tunable copy of the repo's Redis config: the same project, registry and offline store.
    for key in ("project", "provider", "registry", "offline_store", "entity_key_serialization_version"):
        assert ours[key] == repo[key], key
    placeholder = "${" + store.ENV_FEAST_REDIS + "}"
    assert ours["online_store"]["connection_string"] == placeholder
    from feast.repo_config import RepoConfig

    text = df.by_kind("ConfigMap")["fulcrum-config"]["data"][store.CONFIG_FILES["redis"]]
    expanded = yaml.safe_load(text.replace(placeholder, env[store.ENV_FEAST_REDIS]))
    config = RepoConfig(repo_path=df.ROOT / "feature_repo", **expanded)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis:6379"
    # The Redis Cluster variant docs/scaling.md tells operators to put in the ConfigMap.
    scaling = (df.ROOT / "docs" / "scaling.md").read_text()
    (snippet,) = [block for block in re.findall(r"```yaml\n(.*?)```", scaling, flags=re.S)
                  if "for Redis Cluster" in block]
    cluster_yaml = yaml.safe_load(textwrap.dedent(snippet))
    for key in ("project", "provider", "registry", "offline_store", "entity_key_serialization_version"):
        assert cluster_yaml[key] == repo[key], key
    cluster = RepoConfig(repo_path=df.ROOT / "feature_repo", **cluster_yaml)
    assert cluster.online_store.redis_type.value == "redis_cluster"


def _known_env_vars() -> set[str]:
    from fulcrum.client.channel import ENV_VARS as CLIENT_VARS
    from fulcrum.core import feature_store as store
    from fulcrum.core.bundle_signature import KEY_ENV
    from online.config import env_var_names

    read_elsewhere = {"FULCRUM_LOG_LEVEL", store.ENV_STORE, store.ENV_REDIS_URL, store.ENV_FEAST_REDIS,
                      *CLIENT_VARS, KEY_ENV}
    return set(env_var_names()) | read_elsewhere


def test_every_fulcrum_variable_deploy_sets_is_one_the_code_reads() -> None:
    known = _known_env_vars()
    set_here = set(df.k8s_env()) | set(df.compose()["x-fulcrum-env"])
    for _, spec, _ in df.pod_specs():
        for c in df.containers(spec):
            set_here |= {e["name"] for e in c.get("env", [])}
    for name in ("Dockerfile.serve", "Dockerfile.train"):
        for word, rest in df.dockerfile(df.DOCKER / name):
            if word == "ENV":
                set_here |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", rest))
    fulcrum_vars = {v for v in set_here if v.startswith("FULCRUM_")}
    assert fulcrum_vars and fulcrum_vars <= known, sorted(fulcrum_vars - known)
    healthcheck = (df.DOCKER / "healthcheck.py").read_text()
    assert "FULCRUM_PORT" in healthcheck and "FULCRUM_PORT" in known


def test_deploy_runs_exactly_the_listed_fulcrum_commands() -> None:
    argvs = df.fulcrum_argvs()
    used = {df.subcommand(argv) for _, argv in argvs}
    assert used == set(df.DEPLOY_COMMANDS), [(where, argv) for where, argv in argvs]
    for where, argv in argvs:
        options = {a for a in argv if a.startswith("--")}
        assert options <= df.DEPLOY_COMMANDS[df.subcommand(argv)], f"{where}: {argv}"


@pytest.mark.parametrize("path", sorted(df.DEPLOY_COMMANDS), ids=" ".join)
def test_deploy_commands_are_real_cli_commands(path: tuple[str, ...]) -> None:
    import typer

    from fulcrum.cli import app

    command = typer.main.get_command(app)
    for word in path:
        commands = getattr(command, "commands", {})
        assert word in commands, f"`fulcrum {' '.join(path)}`: no `{word}` among {sorted(commands)}"
        command = commands[word]
    options = {opt for param in command.params
               for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]}
    assert df.DEPLOY_COMMANDS[path] <= options, f"`fulcrum {' '.join(path)}` has options {sorted(options)}"
