"""Assertions shared by the test files: AWS errors, identifiers, bounded polling.

Expected values here come from the AWS KMS API reference and the botocore service
model, not from Kagi's source.
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def error_code(exc: ClientError) -> str:
    # botocore already strips any `namespace#` prefix from `__type`; do it again in
    # case a header-derived code slipped through.
    return str(exc.response.get("Error", {}).get("Code", "")).rsplit("#", 1)[-1]


@contextmanager
def aws_error(*codes: str):
    """The block raises a ClientError whose code is one of `codes`, with a request id."""
    with pytest.raises(ClientError) as info:
        yield info
    exc = info.value
    code = error_code(exc)
    assert code in codes, f"expected {' or '.join(codes)}, got {code}: {exc.response}"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    assert 400 <= status < 500, f"{code} should be a 4xx, got HTTP {status}"
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
    assert request_id, f"error response carries no x-amzn-RequestId: {exc.response}"


def assert_key_id(value: str) -> None:
    assert re.fullmatch(UUID, value), f"not a KMS key id (lower-case UUID): {value!r}"


def key_arn_pattern(region: str, account: str) -> str:
    return rf"arn:aws:kms:{re.escape(region)}:{re.escape(account)}:key/({UUID})"


def assert_key_arn(value: str, region: str, account: str, key_id: str | None = None) -> None:
    m = re.fullmatch(key_arn_pattern(region, account), value or "")
    assert m, f"not a key ARN for {region}/{account}: {value!r}"
    if key_id is not None:
        assert m.group(1) == key_id, f"ARN {value} names another key than {key_id}"


def assert_alias_arn(value: str, region: str, account: str, alias_name: str) -> None:
    expected = f"arn:aws:kms:{region}:{account}:{alias_name}"
    assert value == expected, f"alias ARN {value!r} != {expected!r}"


def random_key_id() -> str:
    return str(uuid.uuid4())


def assert_recent(ts: datetime, *, within: timedelta = timedelta(minutes=5)) -> None:
    now = datetime.now(timezone.utc)
    assert abs(now - ts) <= within, f"timestamp {ts} is not within {within} of now ({now})"


def assert_near(ts: datetime, expected: datetime, *, within: timedelta) -> None:
    assert abs(ts - expected) <= within, f"{ts} is not within {within} of {expected}"


def wait_until(predicate, *, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
