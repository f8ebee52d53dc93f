"""The training config: defaults valid, every error names the field (and the allowed values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.train_config import ConfigError, config_from_dict, load_config


def test_defaults_are_the_embedded_config():
    cfg = load_config(None)
    assert cfg.text.max_len == 24
    assert cfg.user.history_len == 50
    assert cfg.retrieval.logq_correction is True
    # the config round-trips through its JSON form (what the manifest stores)
    assert config_from_dict(cfg.model_dump(mode="json")) == cfg


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match=r"retrieval\.negativez: unknown field"):
        config_from_dict({"retrieval": {"negativez": "full"}})


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError) as e:
        config_from_dict({"retrieval": {"negatives": "hard"}})
    msg = str(e.value)
    assert "retrieval.negatives" in msg
    for allowed in ("full", "in_batch", "mixed"):
        assert allowed in msg


def test_out_of_range_is_named():
    with pytest.raises(ConfigError, match=r"text\.max_len"):
        config_from_dict({"text": {"max_len": 2}})


def test_config_is_frozen():
    cfg = load_config(None)
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        cfg.dim = 3  # type: ignore[misc]


def test_yaml_file(tmp_path: Path):
    f = tmp_path / "c.yaml"
    f.write_text("dim: 32\nretrieval:\n  epochs: 2\n")
    cfg = load_config(f)
    assert (cfg.dim, cfg.retrieval.epochs) == (32, 2)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(f)


def test_model_path_not_found_names_the_field(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("FULCRUM_MODEL_PATH", raising=False)
    cfg = config_from_dict({"text": {"model_path": str(tmp_path / "nope")}})
    with pytest.raises(ConfigError, match=r"text\.model_path"):
        cfg.resolved_model_path()
