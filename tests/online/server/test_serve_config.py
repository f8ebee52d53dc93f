"""Serving config, provider choice, request validation: pure pieces of the server."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fulcrum.core.bundle.providers import CPU, CUDA, choose_provider
from fulcrum.core.errors import ConfigError, InvalidArgument
from fulcrum.v1 import recommender_pb2 as pb
from online.config import ServeConfig, build_config, env_var_names, load_config
from online.server import validation


def test_defaults_are_frozen_and_valid():
    cfg = build_config({}, env={})
    assert cfg.execution_provider == "auto" and cfg.batching.max_batch == 64
    with pytest.raises(ValidationError):
        cfg.port = 1  # type: ignore[misc]


def test_unknown_field_is_named_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"prot: unknown field \(allowed: host, port"):
        build_config({"prot": 1}, env={})


def test_bad_provider_names_field_and_allowed_values():
    with pytest.raises(ConfigError, match=r"execution_provider: .*'auto', 'cpu' or 'cuda'"):
        build_config({"execution_provider": "tpu"}, env={})


def test_env_overrides_file_values(tmp_path):
    f = tmp_path / "serve.yaml"
    f.write_text("port: 6000\nbatching:\n  max_batch: 16\n  max_wait_ms: 1\n")
    cfg = load_config(f, env={"FULCRUM_PORT": "7000", "FULCRUM_BATCHING_MAX_BATCH": "8"})
    assert (cfg.port, cfg.batching.max_batch, cfg.batching.max_wait_ms) == (7000, 8, 1.0)
    assert (
        "FULCRUM_BATCHING_MAX_WAIT_MS" in env_var_names() and "FULCRUM_FEATURE_TIMEOUT_MS" in env_var_names()
    )


def test_env_value_out_of_range_is_named():
    with pytest.raises(ConfigError, match="exploration_share"):
        build_config({}, env={"FULCRUM_EXPLORATION_SHARE": "1.5"})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env={})


# ---- execution provider (fake inputs: no GPU on the development machine) ---------------------------


def test_auto_picks_cuda_only_with_provider_and_gpu():
    assert choose_provider("auto", [CUDA, CPU], True).provider == CUDA
    assert choose_provider("auto", [CUDA, CPU], False).provider == CPU
    assert "no GPU" in choose_provider("auto", [CUDA, CPU], False).reason
    assert choose_provider("auto", [CPU], True).provider == CPU


def test_override_cpu_and_impossible_cuda():
    assert choose_provider("cpu", [CUDA, CPU], True).provider == CPU
    with pytest.raises(ConfigError, match="no CUDAExecutionProvider"):
        choose_provider("cuda", [CPU], True)
    with pytest.raises(ConfigError, match="no NVIDIA GPU"):
        choose_provider("cuda", [CUDA, CPU], False)


# ---- request validation ----------------------------------------------------------------------------

CFG = ServeConfig(max_k=50, max_query_length=20, max_session_items=3)


@pytest.mark.parametrize(
    "req,field",
    [
        (pb.RecommendRequest(user_id="", k=5), "user_id"),
        (pb.RecommendRequest(user_id="x" * 129, k=5), "user_id"),
        (pb.RecommendRequest(user_id="u", k=0), "k"),
        (pb.RecommendRequest(user_id="u", k=51), "k"),
        (pb.RecommendRequest(user_id="u", k=5, session_item_ids=["a", ""]), "session_item_ids[1]"),
        (pb.RecommendRequest(user_id="u", k=5, session_item_ids=["a"] * 4), "session_item_ids"),
        (pb.RecommendRequest(user_id="u", k=5, exclude_item_ids=["y" * 200]), "exclude_item_ids[0]"),
        (
            pb.RecommendRequest(user_id="u", k=5, options=pb.RecommendOptions(exploration_share=2)),
            "options.exploration_share",
        ),
        (
            pb.RecommendRequest(user_id="u", k=5, options=pb.RecommendOptions(diversity=-1)),
            "options.diversity",
        ),
    ],
)
def test_recommend_validation_names_the_field(req, field):
    with pytest.raises(InvalidArgument) as e:
        validation.recommend_query(req, CFG)
    assert e.value.field == field


@pytest.mark.parametrize(
    "req,field",
    [
        (pb.SearchRequest(query="", k=5), "query"),
        (pb.SearchRequest(query="   ", k=5), "query"),
        (pb.SearchRequest(query="q" * 21, k=5), "query"),
        (pb.SearchRequest(query="q", k=-1), "k"),
        (pb.SearchRequest(query="q", k=5, user_id="u" * 200), "user_id"),
        (
            pb.SearchRequest(query="q", k=5, filters=pb.SearchFilters(min_price=5, max_price=1)),
            "filters.min_price",
        ),
        (pb.SearchRequest(query="q", k=5, filters=pb.SearchFilters(max_price=-1)), "filters.max_price"),
    ],
)
def test_search_validation_names_the_field(req, field):
    with pytest.raises(InvalidArgument) as e:
        validation.search_query(req, CFG)
    assert e.value.field == field


def test_options_resolve_against_server_defaults():
    q = validation.recommend_query(pb.RecommendRequest(user_id="u", k=3), CFG)
    assert (q.knobs.exploration_share, q.knobs.diversity, q.knobs.allow_repurchase, q.knobs.seed) == (
        CFG.exploration_share,
        CFG.diversity,
        CFG.allow_repurchase,
        None,
    )
    opts = pb.RecommendOptions(exploration_share=0.0, allow_repurchase=True, seed=9)
    q = validation.recommend_query(pb.RecommendRequest(user_id="u", k=3, options=opts), CFG)
    assert (q.knobs.exploration_share, q.knobs.allow_repurchase, q.knobs.seed) == (0.0, True, 9)


def test_fallback_reason_tells_timeouts_from_failures():
    from fulcrum.core.errors import FeatureStoreTimeout, FeatureStoreUnavailable, fallback_reason

    assert fallback_reason(FeatureStoreTimeout("slow")) == "feature_store_timeout"
    # the Feast client's own deadline message
    msg = "get_user_profile: feature store did not answer within 50 ms"
    assert fallback_reason(FeatureStoreUnavailable(msg)) == "feature_store_timeout"
    assert fallback_reason(FeatureStoreUnavailable("failed: ConnectionError")) == "feature_store_unavailable"


def test_gil_switch_interval_is_validated_naming_the_field():
    assert build_config({}, env={}).gil_switch_interval_ms == 5.0  # CPython's default
    assert build_config({}, env={"FULCRUM_GIL_SWITCH_INTERVAL_MS": "1"}).gil_switch_interval_ms == 1.0
    assert "FULCRUM_GIL_SWITCH_INTERVAL_MS" in env_var_names()
    for bad in ("0", "-1", "1000", "fast"):
        with pytest.raises(ConfigError, match=r"gil_switch_interval_ms: "):
            build_config({}, env={"FULCRUM_GIL_SWITCH_INTERVAL_MS": bad})
