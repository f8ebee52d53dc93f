"""Reading deploy/ as data, for the offline deployment tests (tests/deploy/test_deploy_*.py).

No docker or kubectl on the machine: the Dockerfiles, the compose file and the Kubernetes
manifests are parsed here and checked by the tests; the helpers only load and normalise.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

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
                  "--metrics-port", "--health-port"},
    ("retrain",): {"--data", "--out", "--offline-dir", "--work", "--server", "--no-progress"},
    ("features", "apply"): {"--data", "--repo", "--store", "--bundle"},
    ("data", "prepare"): {"--out"},
}

SERVE_ARGV = ["fulcrum", "serve", "--bundle", "/bundle", "--config", "/etc/fulcrum/serve.yaml"]
SERVE_IMAGE, INGEST_IMAGE, TRAIN_IMAGE = "fulcrum-serve", "fulcrum-ingest", "fulcrum-train"
HEAVY_TRAINING_PACKAGES = {"torch", "transformers", "imbalanced-learn", "optuna", "implicit"}


def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == kind}


def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def pod_specs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(owner name, pod spec, pod template metadata) for every workload."""
    out = []
    for _, doc in k8s_docs():
        kind, spec = doc["kind"], doc.get("spec", {})
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            template = spec["template"]
        elif kind == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
        else:
            continue
        out.append((doc["metadata"]["name"], template["spec"], template.get("metadata", {})))
    return out


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def image_name(ref: str) -> str:
    """`${REG:-}fulcrum-serve:${TAG:-latest}` or `registry/x/fulcrum-serve:1.0` -> `fulcrum-serve`."""
    ref = re.sub(r"\$\{[^}]*\}", "", ref)  # compose variables (registry prefix, tag)
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1] if ref.count("/") and not ref.startswith("apache/") else ref
    return last.rsplit(":", 1)[0] if ":" in last else last


def image_tag(ref: str) -> str:
    return ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""


def options(argv: list[str]) -> dict[str, str]:
    pairs = zip(argv, argv[1:], strict=False)
    return {a: b for a, b in pairs if a.startswith("--") and not b.startswith("--")}


def k8s_storage(spec: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(claim, subPath) behind ``path`` in ``container``: the deepest mount that holds it."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = [m for m in container["volumeMounts"]
              if path == m["mountPath"] or path.startswith(m["mountPath"] + "/")]
    assert mounts, f"{container['name']}: nothing mounted at {path}"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
    rest = path[len(mount["mountPath"]):].strip("/")
    return claim, "/".join(p for p in (mount.get("subPath", ""), rest) if p)


def k8s_env() -> dict[str, str]:
    return by_kind("ConfigMap")["fulcrum-env"]["data"]


def dockerfile(path: Path) -> list[tuple[str, str]]:
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


def pip_installs(instructions: list[tuple[str, str]]) -> list[str]:
    return [rest for word, rest in instructions if word == "RUN" and re.search(r"\bpip\b", rest)]


def fulcrum_argvs() -> list[tuple[str, list[str]]]:
    """Every `fulcrum ...` command line that deploy/ runs, with where it comes from."""
    found: list[tuple[str, list[str]]] = []
    for name, spec, _ in pod_specs():
        for c in containers(spec):
            argv = list(c.get("command", [])) + list(c.get("args", []))
            if argv and argv[0] == "fulcrum":
                found.append((f"k8s {name}/{c['name']}", argv[1:]))
    for name, svc in compose()["services"].items():
        entry, cmd = svc.get("entrypoint"), svc.get("command")
        entry = shlex.split(entry) if isinstance(entry, str) else list(entry or [])
        cmd = shlex.split(cmd) if isinstance(cmd, str) else list(cmd or [])
        image = image_name(svc.get("image", ""))
        if entry == ["fulcrum"]:
            found.append((f"compose {name}", cmd))
        elif not entry and image == TRAIN_IMAGE:  # the training image's ENTRYPOINT is ["fulcrum"]
            found.append((f"compose {name}", cmd))
    for filename in ("Dockerfile.serve", "Dockerfile.train"):
        for word, rest in dockerfile(DOCKER / filename):
            if word == "ENTRYPOINT":
                argv = yaml.safe_load(rest)
                if argv[0] == "fulcrum" and len(argv) > 1:
                    found.append((filename, argv[1:]))
    return found


def subcommand(argv: list[str]) -> tuple[str, ...]:
    """The sub-command path of an argv: leading words that are not options or their values."""
    for path in sorted(DEPLOY_COMMANDS, key=len, reverse=True):
        if tuple(argv[: len(path)]) == path:
            return path
    return tuple(argv[:1])


def closure(requirement_names: list[str]) -> set[str]:
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


def serve_closure() -> set[str]:
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = [Requirement(s) for s in project["dependencies"] + project["optional-dependencies"]["serve"]]
    return closure(["fulcrum"] + [r.name for r in direct if r.marker is None or r.marker.evaluate()])


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
