"""A mistyped Redis URL never echoes its password."""

from __future__ import annotations

import pytest

from fulcrum.core.feature_store import redis_connection_string
from fulcrum.core.redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://***@host:6379/0"),
        ("rediss://app:s3cret@host", "rediss://***@host"),
        ("redis://host:6379", "redis://host:6379"),
        ("redis//:s3cret@host", "redis//:***@host"),  # the colon after the scheme is missing
        ("s3cret-only", "s3cret-only"),  # nothing that looks like credentials: unchanged
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["redis//:s3cret@host:6379", "http://:s3cret@host:6379", "redis://:s3cret@"])
def test_a_mistyped_redis_url_does_not_echo_its_password(url):
    with pytest.raises(ValueError) as e:
        redis_connection_string(url)
    assert "s3cret" not in str(e.value) and "redis_url" in str(e.value)


def test_redis_credentials_come_from_files(tmp_path):
    from fulcrum.core.redis_credentials import PASSWORD_FILE, USERNAME_FILE, with_credentials

    (tmp_path / "pw").write_text("p@ss:word\n")
    (tmp_path / "user").write_text("fulcrum-serve\n")
    env = {PASSWORD_FILE: str(tmp_path / "pw"), USERNAME_FILE: str(tmp_path / "user")}
    url = with_credentials("rediss://redis.example:6380/2", env)
    assert url == "rediss://fulcrum-serve:p%40ss%3Aword@redis.example:6380/2"
    feast = redis_connection_string(url)
    assert "password=p@ss:word" in feast and "username=fulcrum-serve" in feast and "ssl=true" in feast
    assert with_credentials("redis://h:1", {}) == "redis://h:1"  # no files: unchanged
    with pytest.raises(ValueError, match="keep only the file"):
        with_credentials("redis://:inline@h:1", env)
    with pytest.raises(ValueError, match=PASSWORD_FILE):
        with_credentials("redis://h:1", {PASSWORD_FILE: str(tmp_path / "missing")})
