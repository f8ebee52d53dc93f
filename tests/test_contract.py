"""The wire contract is linted and compatible: `buf lint` and `buf breaking` against the last
released contract (protos/released/fulcrum-v1.binpb), and a deliberate breaking change fails.

buf comes from the dev extra (PyPI buf-bin, installed next to the interpreter). Outside CI a
machine without it skips these tests with the install hint; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "protos" / "fulcrum" / "v1" / "recommender.proto"
RELEASED = ROOT / "protos" / "released" / "fulcrum-v1.binpb"
#: buf.yaml's breaking exceptions may only be these (language options missing from the
#: released image); see the comment there
OPTION_RULES = {
    "FILE_SAME_CSHARP_NAMESPACE": "csharp_namespace",
    "FILE_SAME_GO_PACKAGE": "go_package",
    "FILE_SAME_JAVA_MULTIPLE_FILES": "java_multiple_files",
    "FILE_SAME_JAVA_OUTER_CLASSNAME": "java_outer_classname",
    "FILE_SAME_JAVA_PACKAGE": "java_package",
    "FILE_SAME_OBJC_CLASS_PREFIX": "objc_class_prefix",
    "FILE_SAME_PHP_NAMESPACE": "php_namespace",
    "FILE_SAME_RUBY_PACKAGE": "ruby_package",
}


def _buf() -> str:
    found = shutil.which("buf", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found:
        return found
    hint = "buf is not installed: pip install -e '.[dev]' (PyPI buf-bin)"
    if os.environ.get("CI"):
        pytest.fail(hint)
    pytest.skip(hint)


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([_buf(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_buf_lint_is_clean():
    out = _run("lint")
    assert out.returncode == 0, out.stdout + out.stderr


def test_buf_breaking_against_the_released_contract():
    out = _run("breaking", "--against", str(RELEASED.relative_to(ROOT)))
    assert out.returncode == 0, out.stdout + out.stderr


def _copy_workspace(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    return tmp_path / "protos" / "fulcrum" / "v1" / "recommender.proto"


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("  int32 k = 2;\n", "  int32 k = 12;\n", "FIELD_NO_DELETE"),  # renumbered
        ("  int32 k = 2;\n", "  int64 k = 2;\n", "FIELD_SAME_TYPE"),  # type changed
        ("  string item_id = 1;\n  // Higher", "  string item = 1;\n  // Higher", "FIELD_SAME_NAME"),  # JSON
        ("  ITEM_UPSERT = 8;\n", "", "ENUM_VALUE_NO_DELETE"),
    ],
)
def test_a_deliberate_breaking_change_fails(tmp_path, old, new, rule):
    proto = _copy_workspace(tmp_path)
    text = proto.read_text()
    assert text.count(old) == 1, f"the test's edit no longer applies: {old!r}"
    proto.write_text(text.replace(old, new))
    out = _run("breaking", "--against", str(RELEASED), "--error-format=json", cwd=tmp_path)
    assert out.returncode != 0
    assert f'"type":"{rule}"' in out.stdout, out.stdout + out.stderr


def test_an_additive_change_passes(tmp_path):
    proto = _copy_workspace(tmp_path)
    text = proto.read_text()
    added = "  int64 catalogue_size = 6;\n  bool spare = 99;\n"
    proto.write_text(text.replace("  int64 catalogue_size = 6;\n", added))
    out = _run("breaking", "--against", str(RELEASED), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_elements_added_after_v1_follow_the_standard_names():
    """buf.yaml's lint exceptions cover the whole file; only the names that shipped may use them."""
    from fulcrum.v1 import recommender_pb2 as pb

    shipped_rpcs = {"IngestEvents", "GetModelInfo"}  # Event -> IngestSummary, -> ModelInfo
    shipped_enums = {"EventType", "Reason"}
    for service in pb.DESCRIPTOR.services_by_name.values():
        assert service.name == "Recommender" or service.name.endswith("Service"), service.name
        for method in service.methods:
            if method.name in shipped_rpcs:
                continue
            assert method.input_type.name == f"{method.name}Request", method.name
            assert method.output_type.name == f"{method.name}Response", method.name
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        if enum.name in shipped_enums:
            continue
        prefix = _upper_snake(enum.name) + "_"
        assert all(v.name.startswith(prefix) for v in enum.values), enum.name


def test_option_exceptions_only_while_the_released_contract_lacks_the_options():
    from google.protobuf import descriptor_pb2

    config = yaml.safe_load((ROOT / "buf.yaml").read_text())
    ignored = set(config["breaking"].get("ignore_only", {}))
    assert ignored <= set(OPTION_RULES), f"buf.yaml ignores breaking rules beyond the options: {ignored}"
    assert not config["breaking"].get("except"), "buf.yaml must not switch breaking rules off"
    # a Buf image is wire-compatible with FileDescriptorSet (its extra fields are skipped)
    released = descriptor_pb2.FileDescriptorSet.FromString(RELEASED.read_bytes())
    (file,) = [f for f in released.file if f.name == "fulcrum/v1/recommender.proto"]
    for rule in ignored:
        assert not file.options.HasField(OPTION_RULES[rule]), (
            f"the released contract has {OPTION_RULES[rule]}: "
            f"delete {rule} from buf.yaml's breaking.ignore_only"
        )
