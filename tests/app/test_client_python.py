"""The Python client (fulcrum/client) against a real `fulcrum serve`: every RPC, typed errors,
deadlines and the service config's retry of UNAVAILABLE (made observable by a flaky double in
front of the real server, tests/client_doubles.py)."""

from __future__ import annotations

import time

import grpc
import pytest

from fulcrum.client.errors import (
    DeadlineExceededError,
    FulcrumError,
    InvalidArgumentError,
    UnavailableError,
    from_rpc_error,
)
from fulcrum.client.recommender import FulcrumClient
from fulcrum.client.service_config import RetryPolicy, service_config
from fulcrum.v1 import recommender_pb2 as pb
from tests.client_doubles import FlakyFront
from tests.serve_process import fulcrum_serve
from tests.serving_helpers import make_bundle


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    work = tmp_path_factory.mktemp("python-client")
    bundle = make_bundle(work / "bundle", version="client-1")
    with fulcrum_serve(bundle, work) as port:
        yield f"127.0.0.1:{port}"


def _event(event_id: str, user: str, item: str, kind=pb.PURCHASE, ts_ms: int | None = None) -> pb.Event:
    return pb.Event(
        event_id=event_id,
        type=kind,
        user_id=user,
        item_id=item,
        quantity=1,
        price=2.5,
        timestamp_ms=ts_ms if ts_ms is not None else int(time.time() * 1000),
    )


def test_every_rpc_against_the_real_server(target):
    with FulcrumClient(target) as client:
        info = client.get_model_info(timeout=10)
        assert info.bundle_version == "client-1"
        assert info.api_version == "fulcrum.v1"
        assert info.catalogue_size == 40

        summary = client.ingest_events(
            [
                _event("py-1", "py-user", "sku-001"),
                _event("py-2", "py-user", "sku-002", kind=pb.VIEW),
                _event("py-bad", "py-user", "sku-003", ts_ms=1_700_000_000),  # seconds, not ms
            ],
            timeout=30,
        )
        assert (summary.accepted, summary.rejected, summary.duplicates) == (2, 1, 0)
        assert summary.rejections[0].event_id == "py-bad"
        assert summary.rejections[0].reason.startswith("timestamp_ms:")
        again = client.ingest_events([_event("py-1", "py-user", "sku-001")], timeout=30)
        assert (again.accepted, again.duplicates) == (0, 1)
        with pytest.raises(InvalidArgumentError) as caught:  # nothing usable in the stream
            client.ingest_events([_event("py-neg", "py-user", "sku-004", ts_ms=-1)], timeout=30)
        assert caught.value.field == "timestamp_ms"

        reply = client.recommend("py-user", 5, timeout=10)
        ids = [item.item_id for item in reply.items]
        assert len(ids) == 5 and len(set(ids)) == 5
        assert "sku-001" not in ids  # bought a moment ago, repurchase off by default
        assert reply.bundle_version == "client-1" and not reply.degraded

        found = client.search(
            "red candle", 3, filters=pb.SearchFilters(max_price=4.0), timeout=10
        )
        assert 0 < len(found.items) <= 3
        assert all(item.reason == pb.QUERY_MATCH for item in found.items)


def test_invalid_argument_is_typed_names_the_field_and_is_not_retried(target):
    with FulcrumClient(target) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.recommend("u-1", 0, request_id="req-k0", timeout=10)
    assert caught.value.field == "k"
    assert caught.value.request_id == "req-k0"  # echoed in the trailing metadata
    assert "must be in 1..100" in caught.value.details

    with FlakyFront(target, failures=5, code=grpc.StatusCode.INVALID_ARGUMENT) as front:
        with FulcrumClient(front.target) as client, pytest.raises(InvalidArgumentError):
            client.get_model_info(timeout=10)
        assert front.attempts == 1


def test_unavailable_is_retried_by_the_service_config(target):
    with FlakyFront(target, failures=2) as front, FulcrumClient(front.target) as client:
        info = client.get_model_info(timeout=30)
        assert info.bundle_version == "client-1"  # the real server's answer, third attempt
        assert front.attempts == 3


def test_retries_give_up_after_max_attempts_and_can_be_switched_off(target):
    with FlakyFront(target, failures=10) as front:
        policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)
        with FulcrumClient(front.target, retry=policy) as client, pytest.raises(UnavailableError) as caught:
            client.get_model_info(timeout=30)
        assert front.attempts == 3
        assert caught.value.retryable and "injected failure 3" in caught.value.details

    with FlakyFront(target, failures=1) as front:
        with FulcrumClient(front.target, retry=RetryPolicy(max_attempts=1)) as client:
            with pytest.raises(UnavailableError):
                client.get_model_info(timeout=30)
        assert front.attempts == 1


def test_deadlines_explicit_and_from_the_service_config(target):
    with FlakyFront(target) as front:
        with FulcrumClient(front.target) as client:
            client.get_model_info(timeout=30)  # connected: the next call reaches the double at once
            front.block = True  # the double now holds every call until released
            with pytest.raises(DeadlineExceededError):
                client.recommend("u-1", 3, timeout=0.3)
        # no timeout given: the service config's default ends the call (gRPC enforces it in the
        # client channel; it is not sent to the server as grpc-timeout)
        with FulcrumClient(front.target, retry=RetryPolicy(timeout_s=0.3)) as client:
            with pytest.raises(DeadlineExceededError):
                client.get_model_info()
        front.release.set()
        with FulcrumClient(front.target) as client:
            assert client.recommend("u-1", 3, timeout=10).bundle_version == "client-1"
    # the Recommend held by the double saw the caller's 0.3 s deadline (not none, not 10 s);
    # gRPC's wire encoding of the timeout can round it up by a little
    held = front.time_remaining[1]
    assert held is not None and held < 1.0


def test_token_and_request_id_travel_as_metadata(target):
    with FlakyFront(target) as front:
        with FulcrumClient(front.target, token="tok-1") as client:
            client.get_model_info(timeout=10, request_id="rid-1")
            client.get_model_info(timeout=10)
        first, second = front.metadata
        assert first["authorization"] == "Bearer tok-1" and first["x-request-id"] == "rid-1"
        assert second["x-request-id"] and second["x-request-id"] != "rid-1"  # a fresh id per call
        with FulcrumClient(front.target) as client:
            client.get_model_info(timeout=10)
        assert "authorization" not in front.metadata[2]


def test_service_config_shape_and_validation():
    config = service_config(RetryPolicy(max_attempts=4, timeout_s=2.5))
    everything, long_calls = config["methodConfig"]
    assert everything["name"] == [{"service": "fulcrum.v1.Recommender"}]
    assert everything["timeout"] == "2.5s"
    assert everything["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert everything["retryPolicy"]["maxAttempts"] == 4
    assert {n["method"] for n in long_calls["name"]} == {"IngestEvents", "ReloadModel"}
    assert long_calls["timeout"] == "300s"
    assert "retryPolicy" not in service_config(RetryPolicy(max_attempts=1))["methodConfig"][0]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=6)
    with pytest.raises(ValueError, match="initial_backoff_s"):
        RetryPolicy(initial_backoff_s=3.0, max_backoff_s=2.0)


class _FakeRpcError:
    def __init__(self, code, details, trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


def test_from_rpc_error_maps_codes_and_reads_the_field():
    err = from_rpc_error(
        _FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "options.diversity: is 2.0, must be in [0, 1]",
                      (("x-request-id", "r-1"),))
    )
    assert isinstance(err, InvalidArgumentError)
    assert (err.field, err.request_id) == ("options.diversity", "r-1")
    # a message that does not start with "field: " names no field
    assert from_rpc_error(_FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad things: x")).field == ""
    other = from_rpc_error(_FakeRpcError(grpc.StatusCode.ABORTED, "conflict"))
    assert type(other) is FulcrumError and other.code == "ABORTED"
